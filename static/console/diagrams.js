// ```mermaid blocks drawn as diagrams, once an answer is complete (a half-streamed diagram
// is a syntax error, and mermaid is slow). Mermaid is loaded on first use, runs with
// securityLevel "strict" (no HTML in labels, no click handlers, its output sanitized) and
// follows the page theme, redrawing when it changes. A diagram mermaid cannot draw stays
// the code block it came in, with the reason as its title.
//
// Mermaid styles its SVG with a <style> element and style="" attributes, so the chat page's
// policy allows inline styles (only there: console/views.py); model HTML still has neither,
// DOMPurify removes them (markdown.js).

let mermaid = null;
let drawn = 0;

export async function drawDiagrams(element, isCurrent) {
  const blocks = [...element.querySelectorAll("pre > code.language-mermaid")];
  if (!blocks.length) return;
  mermaid ??= await loadMermaid();
  for (const code of blocks) {
    if (!isCurrent()) return;
    await drawBlock(code.parentElement, code.textContent);
  }
}

async function loadMermaid() {
  const module = (await import("../vendor/mermaid/mermaid.esm.min.mjs")).default;
  new MutationObserver(redrawAll).observe(document.documentElement, { attributeFilter: ["data-theme"] });
  matchMedia("(prefers-color-scheme: light)").addEventListener("change", redrawAll);
  return module;
}

function pageTheme() {
  const chosen = document.documentElement.dataset.theme;
  if (chosen) return chosen;
  return matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark";
}

async function svgFor(source) {
  mermaid.initialize({
    startOnLoad: false,
    securityLevel: "strict",
    suppressErrorRendering: true, // throw instead of drawing a "syntax error" bomb
    theme: pageTheme() === "dark" ? "dark" : "default",
  });
  drawn += 1;
  return (await mermaid.render(`mermaid-${drawn}`, source)).svg;
}

async function drawBlock(pre, source) {
  let svg;
  try {
    svg = await svgFor(source);
  } catch (error) {
    pre.classList.add("diagram-failed");
    pre.title = `mermaid could not draw this: ${error?.message || error}`;
    return;
  }
  if (!pre.isConnected) return;
  const figure = document.createElement("figure");
  figure.className = "diagram";
  figure.dataset.source = source;
  figure.innerHTML = svg;
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "mermaid source";
  figure.append(details);
  pre.replaceWith(figure);
  details.append(summary, pre); // the block itself, copy button and all
}

async function redrawAll() {
  for (const figure of document.querySelectorAll("figure.diagram[data-source]")) {
    try {
      const svg = await svgFor(figure.dataset.source);
      figure.querySelector("svg")?.remove();
      figure.insertAdjacentHTML("afterbegin", svg);
    } catch {
      // It was drawn before with the same source; keep the old colours.
    }
  }
}
