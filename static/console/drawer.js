// The sessions drawer on a phone: a modal panel with a close button and a backdrop.

const PHONE = matchMedia("(max-width: 47.99rem)");

// The drawer is open while <body> has the class "show-sessions" (other code may remove
// it, e.g. on opening a session); everything else follows from that class: the toggle's
// aria-expanded, the backdrop, the page made inert behind it, and focus.
export function createDrawer({ drawer, toggle, close: closeButton, backdrop, behind }) {
  const isOpen = () => document.body.classList.contains("show-sessions");

  let wasOpen = false;

  function sync() {
    const open = isOpen() && PHONE.matches;
    toggle.setAttribute("aria-expanded", String(open));
    backdrop.hidden = !open;
    for (const node of behind) node.inert = open;
    // Open on a phone it is a modal dialog; otherwise the page's sessions sidebar.
    if (open) {
      drawer.setAttribute("role", "dialog");
      drawer.setAttribute("aria-modal", "true");
    } else {
      drawer.removeAttribute("role");
      drawer.removeAttribute("aria-modal");
    }
    if (open && !drawer.contains(document.activeElement)) closeButton.focus();
    // Closed with focus inside it (or already dropped to <body>): back to ☰.
    const lost = drawer.contains(document.activeElement) || document.activeElement === document.body;
    if (!open && wasOpen && lost) toggle.focus();
    wasOpen = open;
  }

  function open() {
    document.body.classList.add("show-sessions");
  }

  function close() {
    document.body.classList.remove("show-sessions");
  }

  toggle.setAttribute("aria-controls", drawer.id);
  toggle.addEventListener("click", () => (isOpen() ? close() : open()));
  closeButton.addEventListener("click", close);
  backdrop.addEventListener("click", close);
  PHONE.addEventListener("change", () => (PHONE.matches ? sync() : close()));
  new MutationObserver(sync).observe(document.body, { attributes: true, attributeFilter: ["class"] });
  sync();

  return { isOpen: () => isOpen() && PHONE.matches, close, open };
}
