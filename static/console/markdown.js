// Markdown to sanitized HTML: marked parses, DOMPurify cleans, highlight.js colours code,
// every code block gets a copy button and every table a box that scrolls sideways. Formulas
// (math.js) and mermaid diagrams (diagrams.js) are drawn into the cleaned DOM afterwards,
// their libraries loaded only by an answer that has some.
//
// Model output is untrusted: an answer must not phone home (a remote <img> loads with no
// click), ask for a password (<form>, <input>) or restyle the page (<style>, style="").
// DOMPurify works in an inert document, so an image is only fetched once the cleaned HTML
// reaches the page: by then a remote image has lost its src and becomes a link.
import { marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.mjs";
import hljs from "../vendor/highlight.min.js";
import { drawDiagrams } from "./diagrams.js";
import { mathExtensions, typeset } from "./math.js";

// Parsing HTML in any document of this page applies its policy, so a model's style="" or
// <style>, though DOMPurify drops it, would still be reported as a violation. They are
// renamed before parsing (x-style, which no browser applies) and dropped after.
const STYLE_TAG = /<(\/?)style\b/gi;
const TAG = /<[a-z][^>]*>/gi;
const STYLE_ATTRIBUTE = /(\s)style(\s*=)/gi;

function defuseStyles(html) {
  return html.replace(STYLE_TAG, "<$1x-style").replace(TAG, (tag) => tag.replace(STYLE_ATTRIBUTE, "$1x-style$2"));
}

marked.setOptions({ gfm: true, breaks: true });
marked.use({ extensions: mathExtensions, renderer: { html: ({ text }) => defuseStyles(text) } });

const SANITIZE = {
  USE_PROFILES: { html: true }, // no SVG or MathML (their <image>, <use> load URLs too)
  FORBID_TAGS: [
    "style", "link", "form", "input", "button", "textarea", "select", "option", "fieldset",
    "audio", "video", "source", "track", "picture", "iframe", "object", "embed",
  ],
  FORBID_ATTR: ["style", "srcset", "background", "poster", "action", "formaction", "ping"],
};
const LOCAL_IMAGE = /^(data:image\/|blob:)/i;

DOMPurify.addHook("uponSanitizeElement", (node, data) => {
  if (data.tagName === "x-style") node.textContent = ""; // the CSS goes with its element
});

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

// The element's last paint; a formula or diagram drawn for an older one is dropped.
const paints = new WeakMap();
// The animation frame a streaming render waits for, cancelled by a final render.
const frames = new WeakMap();

function paint(element, text) {
  const serial = (paints.get(element) || 0) + 1;
  paints.set(element, serial);
  element.innerHTML = DOMPurify.sanitize(marked.parse(text || ""), SANITIZE);
  for (const img of element.querySelectorAll("img[data-remote-src]")) img.replaceWith(imageLink(img));
  for (const table of element.querySelectorAll("table")) scrollBox(table);
  for (const code of element.querySelectorAll("pre code")) {
    if (!code.classList.contains("language-mermaid")) hljs.highlightElement(code);
    addCopyButton(code.parentElement, code);
  }
  return () => paints.get(element) === serial;
}

// A complete answer: formulas, then diagrams. Resolves once both are drawn.
export async function renderInto(element, text) {
  cancelAnimationFrame(frames.get(element));
  const isCurrent = paint(element, text);
  await typeset(element, isCurrent);
  await drawDiagrams(element, isCurrent);
  if (isCurrent()) element.dataset.rendered = "1";
}

// A wide table scrolls inside the answer instead of widening the page (a phone is 390 px).
function scrollBox(table) {
  const box = document.createElement("div");
  box.className = "table-scroll";
  box.tabIndex = 0; // a keyboard can scroll it too
  box.setAttribute("role", "region");
  box.setAttribute("aria-label", "table");
  table.replaceWith(box);
  box.append(table);
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

// While tokens arrive, re-rendering the whole answer for each is wasteful: render the
// latest text at most once per animation frame. Formulas are drawn as they complete;
// diagrams wait for renderInto, the final render.
export function throttledRenderer(element) {
  return (text) => {
    cancelAnimationFrame(frames.get(element));
    frames.set(
      element,
      requestAnimationFrame(() => {
        frames.delete(element);
        delete element.dataset.rendered;
        typeset(element, paint(element, text));
      }),
    );
  };
}
