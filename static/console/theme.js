// Dark and light: the system preference unless the user picked one (kept in localStorage).
const KEY = "switchboard-theme";

function apply(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  // Code highlighting follows: its two stylesheets switch by media query.
  for (const scheme of ["dark", "light"]) {
    const link = document.getElementById(`hljs-${scheme}`);
    if (link) link.media = theme ? (theme === scheme ? "all" : "not all") : `(prefers-color-scheme: ${scheme})`;
  }
}

function current() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen) return chosen;
  return matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

apply(localStorage.getItem(KEY));
for (const button of document.querySelectorAll(".theme-toggle")) {
  button.addEventListener("click", () => {
    const next = current() === "dark" ? "light" : "dark";
    localStorage.setItem(KEY, next);
    apply(next);
  });
}
