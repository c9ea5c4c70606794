// Keyboard use across the chat page: one Escape for every layer (innermost first), the
// skip link, and the ⋯ menus (<details class="menu">) closing like menus do.

// Layers are tried in order, innermost first: `{ isOpen(), close() }`. An open modal
// <dialog> comes before all of them and the browser closes it itself.
export function wireEscape(layers) {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    if (document.querySelector("dialog:modal")) return; // the browser closes it
    const layer = layers.find((l) => l.isOpen());
    if (!layer) return;
    event.preventDefault();
    layer.close();
  });
}

// The ⋯ menus as a layer: the open one closes and gives focus back to its summary.
export const menus = {
  isOpen: () => Boolean(document.querySelector("details.menu[open]")),
  close() {
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  },
};

// A click outside an open menu closes it, as in any menu.
export function wireMenus() {
  document.addEventListener("click", (event) => {
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      if (!menu.contains(event.target)) menu.open = false;
    }
  });
}

// The skip link focuses its target itself: following "#input" would change the
// location hash, which names the open session.
export function wireSkipLinks() {
  for (const link of document.querySelectorAll("a.skip-link")) {
    link.addEventListener("click", (event) => {
      const target = document.querySelector(link.getAttribute("href"));
      if (!target) return;
      event.preventDefault();
      target.focus();
    });
  }
}
