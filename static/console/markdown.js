// Markdown to sanitized HTML: marked parses, DOMPurify cleans, highlight.js colours code,
// and every code block gets a copy button.
//
// Model output is untrusted: an answer must not phone home (a remote <img> loads with no
// click), ask for a password (<form>, <input>) or restyle the page (<style>, style="").
// DOMPurify works in an inert document, so an image is only fetched once the cleaned HTML
// reaches the page: by then a remote image has lost its src and becomes a link.
import { marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.mjs";
import hljs from "../vendor/highlight.min.js";

marked.setOptions({ gfm: true, breaks: true });

const SANITIZE = {
  USE_PROFILES: { html: true }, // no SVG or MathML (their <image>, <use> load URLs too)
  FORBID_TAGS: [
    "style", "link", "form", "input", "button", "textarea", "select", "option", "fieldset",
    "audio", "video", "source", "track", "picture", "iframe", "object", "embed",
  ],
  FORBID_ATTR: ["style", "srcset", "background", "poster", "action", "formaction", "ping"],
};
const LOCAL_IMAGE = /^(data:image\/|blob:)/i;

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName !== "IMG") return;
  const src = node.getAttribute("src") || "";
  if (LOCAL_IMAGE.test(src)) return;
  node.removeAttribute("src");
  node.setAttribute("data-remote-src", src);
});

// A remote image, shown as a link to it (only for http(s) URLs; anything else as text).
function imageLink(img) {
  const src = img.getAttribute("data-remote-src") || "";
  const label = `image: ${img.getAttribute("alt") || src}`;
  let url = null;
  try {
    url = new URL(src, location.href);
  } catch {
    url = null;
  }
  if (!url || !["http:", "https:"].includes(url.protocol)) return document.createTextNode(`[${label}]`);
  const link = document.createElement("a");
  link.href = url.href;
  link.className = "remote-image";
  link.rel = "noopener noreferrer nofollow";
  link.target = "_blank";
  link.textContent = label;
  return link;
}

export function renderInto(element, text) {
  element.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), SANITIZE);
  for (const img of element.querySelectorAll("img[data-remote-src]")) img.replaceWith(imageLink(img));
  for (const code of element.querySelectorAll("pre code")) {
    hljs.highlightElement(code);
    addCopyButton(code.parentElement, code);
  }
}

function addCopyButton(pre, code) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = "copy";
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(code.innerText);
      button.textContent = "copied";
    } catch {
      button.textContent = "select + ctrl-c";
    }
    setTimeout(() => (button.textContent = "copy"), 1500);
  });
  pre.append(button);
}

// While tokens arrive, re-rendering the whole answer each time is wasteful; render at most
// once per animation frame.
export function throttledRenderer(element) {
  let pending = null;
  return (text) => {
    pending = text;
    requestAnimationFrame(() => {
      if (pending === null) return;
      renderInto(element, pending);
      pending = null;
    });
  };
}
