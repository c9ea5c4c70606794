// TeX in answers: $…$ and \(…\) inline, $$…$$ and \[…\] on their own lines as display math.
//
// marked only marks the formulas (the TeX kept as text in a <span class="math">), so the
// TeX goes through DOMPurify like any other text and code spans and blocks keep their
// dollars; typeset() then draws the marked spans in the cleaned DOM with KaTeX, loaded on
// first use. katex.render builds DOM nodes and sets their sizes through element.style, which
// the page's Content-Security-Policy allows (renderToString's style="" attributes it would not).

// A dollar opens only before a non-space and closes only after one, and not before a digit,
// as in pandoc: "$5 and $10" stays text.
const INLINE_DOLLAR = /^\$(?!\s)((?:\\.|[^\\\n$])+?)(?<!\s)\$(?![\d$])/;
const INLINE_DISPLAY = /^\$\$(?!\$)((?:\\.|[^\\$])+?)\$\$/;
const INLINE_PAREN = /^\\\(((?:\\.|[^\\\n])+?)\\\)/;
const INLINE_BRACKET = /^\\\[((?:\\.|[^\\])+?)\\\]/;
const BLOCK = /^(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\])[ \t]*(?:\n+|$)/;
const BLOCK_START = /^(?:\$\$|\\\[)/m;

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

// A span inside a paragraph (a <div> there would end it), a div as a block of its own.
function placeholder(tex, display, tag = "span") {
  return `<${tag} class="math${display ? " display" : ""}">${escapeHtml(tex.trim())}</${tag}>`;
}

const inlineMath = {
  name: "inlineMath",
  level: "inline",
  start: (src) => src.match(/\$|\\[([]/)?.index,
  tokenizer(src) {
    for (const [rule, display] of [
      [INLINE_DISPLAY, true],
      [INLINE_DOLLAR, false],
      [INLINE_PAREN, false],
      [INLINE_BRACKET, true],
    ]) {
      const match = rule.exec(src);
      if (match) return { type: "inlineMath", raw: match[0], tex: match[1], display };
    }
    return undefined;
  },
  renderer: (token) => placeholder(token.tex, token.display),
};

const blockMath = {
  name: "blockMath",
  level: "block",
  start: (src) => src.match(BLOCK_START)?.index,
  tokenizer(src) {
    const match = BLOCK.exec(src);
    if (match) return { type: "blockMath", raw: match[0], tex: match[1] ?? match[2] };
    return undefined;
  },
  renderer: (token) => `${placeholder(token.tex, true, "div")}\n`,
};

export const mathExtensions = [blockMath, inlineMath];

let katex = null;

// Draw every formula placeholder in `element` (a no-op, and no download, when it has none).
// `isCurrent` says whether the element still shows the text this call was for.
export async function typeset(element, isCurrent) {
  const formulas = element.querySelectorAll(".math:not([data-typeset])");
  if (!formulas.length) return;
  katex ??= await loadKatex();
  if (!isCurrent()) return;
  for (const node of formulas) draw(node);
}

async function loadKatex() {
  const sheet = document.createElement("link");
  sheet.rel = "stylesheet";
  sheet.href = new URL("../vendor/katex/katex.min.css", import.meta.url).href;
  document.head.append(sheet);
  return (await import("../vendor/katex/katex.mjs")).default;
}

function draw(node) {
  const tex = node.textContent;
  const display = node.classList.contains("display");
  node.dataset.typeset = "1";
  node.title = tex;
  // throwOnError: false shows a malformed formula as its red source instead of throwing.
  katex.render(tex, node, { displayMode: display, throwOnError: false, output: "htmlAndMathml" });
}
