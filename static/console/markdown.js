// Markdown to sanitized HTML: marked parses, DOMPurify cleans, highlight.js colours code,
// and every code block gets a copy button.
import { marked } from "../vendor/marked.esm.js";
import DOMPurify from "../vendor/purify.es.mjs";
import hljs from "../vendor/highlight.min.js";

marked.setOptions({ gfm: true, breaks: true });

export function renderInto(element, text) {
  element.innerHTML = DOMPurify.sanitize(marked.parse(text || ""));
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
