// The message list of the chat page: the current branch, windowed (at most WINDOW
// messages in the DOM however far one scrolls), with versions (‹ 2/3 ›), copy, delete,
// edit and regenerate on every message, jump to first / latest, and find in chat.
//
// The server owns the tree: this module shows pages of the current branch
// (/api/sessions/{id}/messages?before|after|around|newest) and asks it to switch versions
// (POST /api/sessions/{id}/switch), then shows what it answers.
import { call } from "./api.js";
import { el } from "./dom.js";
import { citationList } from "./documents.js";
import { renderInto } from "./markdown.js";

export const PAGE = 50;
const WINDOW = 150; // messages kept in the DOM; older or newer ones are fetched again
const EDGE = 200; // px from the top or bottom of the list that fetch the next page

const $ = (selector) => document.querySelector(selector);

// What the list shows: `start` is the first shown message's index on the branch, `count`
// the branch's length; the messages themselves are the DOM nodes (data-id, data-parent).
const view = { start: 0, count: 0, fetching: false };
const find = { query: "", items: [], count: 0, index: -1 };
// { state, models(), edit(message), regenerate(message, model), retry(message),
//   continueAnswer(message), refreshed() }
let ctx = null;

export function setupConversation(context) {
  ctx = context;
  wireConversation();
}

// --- small DOM helpers ---------------------------------------------------------------

export function money(value) {
  if (!value) return "$0";
  return value < 0.01 ? `$${value.toFixed(6)}` : `$${value.toFixed(4)}`;
}

export function scrollDown() {
  const box = $("#messages");
  box.scrollTop = box.scrollHeight;
}

function shownNodes() {
  return [...document.querySelectorAll("#messages .msg[data-id]")].filter((n) => n.dataset.id);
}

function messagesUrl(query) {
  return `/api/sessions/${ctx.state.session.id}/messages?${new URLSearchParams({ limit: PAGE, ...query })}`;
}

// --- loading pages -------------------------------------------------------------------

// The conversation's end, as on opening a session or after a turn.
export async function loadMessages() {
  const page = await call("GET", messagesUrl({ newest: true }));
  showPage(page);
  if (!page.items.length) $("#messages").append(el("p", { class: "empty" }, "> pick a model and say something_"));
  scrollDown();
}

// Replace the whole list with one page of the branch.
function showPage(page) {
  $("#messages").replaceChildren(...renderMessages(page.items));
  view.start = page.start;
  view.count = page.count;
  renderEdges();
}

function hasOlder() {
  return view.start > 0;
}

function hasNewer() {
  return view.start + shownNodes().length < view.count;
}

// Scrolled near the top: the page above is prepended, and nodes far below are dropped.
export async function loadOlder() {
  const first = shownNodes()[0];
  if (!hasOlder() || !first || view.fetching) return;
  view.fetching = true;
  try {
    const page = await call("GET", messagesUrl({ before: first.dataset.id }));
    const box = $("#messages");
    const height = box.scrollHeight;
    box.prepend(...renderMessages(page.items));
    box.scrollTop += box.scrollHeight - height; // what was on screen stays put
    view.start = Math.max(0, view.start - page.items.length);
    view.count = page.count;
    trim("bottom");
  } finally {
    view.fetching = false;
    renderEdges();
  }
}

// Scrolled near the bottom of a window that does not reach the end: the page below.
async function loadNewer() {
  const nodes = shownNodes();
  const last = nodes[nodes.length - 1];
  if (!hasNewer() || !last || view.fetching) return;
  view.fetching = true;
  try {
    const page = await call("GET", messagesUrl({ after: last.dataset.id }));
    $("#messages").append(...renderMessages(page.items));
    view.count = page.count;
    trim("top");
  } finally {
    view.fetching = false;
    renderEdges();
  }
}

// Keep at most WINDOW messages: drop the far end (and keep the view where it is).
function trim(side) {
  const nodes = shownNodes();
  const extra = nodes.length - WINDOW;
  if (extra <= 0) return;
  const box = $("#messages");
  const height = box.scrollHeight;
  const gone = side === "top" ? nodes.slice(0, extra) : nodes.slice(-extra);
  for (const node of gone) removeMessageNode(node);
  if (side === "top") {
    box.scrollTop -= height - box.scrollHeight;
    view.start += extra;
  }
}

function removeMessageNode(node) {
  const grid = node.parentElement.classList.contains("compare") ? node.parentElement : null;
  node.remove();
  if (grid && !grid.children.length) grid.remove();
}

export async function jumpToFirst() {
  const page = await call("GET", messagesUrl({ offset: 0 }));
  showPage(page);
  $("#messages").scrollTop = 0;
}

export async function jumpToLatest() {
  if (hasNewer()) await loadMessages();
  else scrollDown();
}

// "first" shows when the window does not start at the branch's start, "latest" when it
// does not reach the end or the reader scrolled up.
function renderEdges() {
  const box = $("#messages");
  const away = box.scrollHeight - box.scrollTop - box.clientHeight > 80;
  $("#jump-first").hidden = !hasOlder() && box.scrollTop < 40;
  $("#jump-latest").hidden = !hasNewer() && !away;
}

// Where a new turn is added: after the branch's end, which must then be on screen.
export async function showEnd() {
  if (hasNewer()) await loadMessages();
  $("#messages .empty")?.remove();
}

// The last message on the branch when it is shown (the window reaches the end).
export function lastShown() {
  if (hasNewer()) return null;
  const nodes = shownNodes();
  return nodes[nodes.length - 1] || null;
}

// Remove `node` and everything after it: a version or an answer is being replaced.
export function dropFrom(node) {
  let top = node.parentElement.classList.contains("compare") ? node.parentElement : node;
  while (top) {
    const next = top.nextElementSibling;
    top.remove();
    top = next;
  }
  view.count = view.start + shownNodes().length;
}

// --- rendering -----------------------------------------------------------------------

export function renderMessages(messages) {
  const nodes = [];
  let grid = null;
  const playground = ctx.state.session.session_type === "playground";
  for (const message of messages) {
    if (playground && message.role === "assistant") {
      if (!grid) {
        grid = el("div", { class: "compare" });
        nodes.push(grid);
      }
      grid.append(messageNode(message));
      continue;
    }
    grid = null;
    nodes.push(messageNode(message));
  }
  return nodes;
}

export function messageNode(message) {
  const body = el("div", { class: "body" });
  renderInto(body, message.content);
  const node = el(
    "article",
    {
      class: `msg ${message.role} ${message.status || ""}`,
      "data-id": message.id ?? "",
      "data-parent": message.parent_id ?? "",
    },
    el(
      "header",
      {},
      el("span", { class: "role" }, message.role === "user" ? "you" : message.model || message.role),
      versionSwitch(message),
    ),
    body,
  );
  if (message.citations?.length) node.append(citationList(message.citations));
  if (message.images?.length) {
    node.append(el("div", { class: "thumbs" }, ...message.images.map((src) => el("img", { src, alt: "attached image" }))));
  }
  if (message.status === "error") node.append(failureBox(message));
  if (message.role === "assistant") node.append(statsLine(message));
  if (message.id) node.append(actions(message, node));
  node.message = message; // what the actions and the composer read back
  return node;
}

export function statsLine(message) {
  const parts = [];
  if (message.status === "stopped") parts.push("⏹ stopped: as it was when stopped");
  if (message.prompt_tokens || message.completion_tokens)
    parts.push(`${message.prompt_tokens}+${message.completion_tokens} tok`, money(message.cost_usd));
  if (message.ttft_ms != null) parts.push(`ttft ${message.ttft_ms} ms`);
  if (message.latency_ms != null) parts.push(`${(message.latency_ms / 1000).toFixed(2)} s`);
  return el("footer", { class: "stats" }, parts.join(" · "));
}

// A stored failure: the partial text above stays in normal colour; this box says what
// went wrong, and retry answers the same question again (a sibling answer).
function failureBox(message) {
  return el(
    "div",
    { class: "error-box", role: "alert" },
    el("b", {}, `✗ ${message.error_code || "error"}: `),
    message.error || "the request failed",
    answersAgain() ? el("button", { type: "button", class: "retry", onclick: () => ctx.retry(message) }, "↻ retry") : null,
  );
}

function versionSwitch(message) {
  const versions = message.siblings || [];
  if (versions.length < 2) return null;
  const index = versions.indexOf(message.id);
  const go = (delta) => switchVersion(message, versions[index + delta]);
  return el(
    "span",
    { class: "versions" },
    el("button", { type: "button", class: "quiet", "aria-label": "previous version", disabled: index === 0 ? "" : null, onclick: () => go(-1) }, "‹"),
    el("span", { class: "version-count" }, `${index + 1}/${versions.length}`),
    el("button", { type: "button", class: "quiet", "aria-label": "next version", disabled: index === versions.length - 1 ? "" : null, onclick: () => go(1) }, "›"),
  );
}

// Edit, regenerate and continue go through the chat stream: not for a playground (its
// columns have their own turns) nor for documents (the stream knows nothing of them).
function answersAgain() {
  return !["playground", "documents"].includes(ctx.state.session.session_type);
}

function actions(message, node) {
  const bar = el(
    "div",
    { class: "msg-actions" },
    el("button", { type: "button", class: "quiet copy-message", onclick: (e) => copyMessage(message, e.currentTarget) }, "copy"),
  );
  if (message.role === "user" && answersAgain()) {
    bar.append(el("button", { type: "button", class: "quiet turn-action", onclick: () => ctx.edit(message, node) }, "✎ edit"));
  }
  if (message.role === "assistant" && message.parent_id && answersAgain()) {
    bar.append(
      el("button", { type: "button", class: "quiet turn-action", onclick: () => ctx.regenerate(message) }, "↻ regenerate"),
      otherModelMenu(message),
    );
  }
  if (message.status === "stopped" && message.role === "assistant" && answersAgain()) {
    bar.append(el("button", { type: "button", class: "quiet continue", onclick: () => ctx.continueAnswer(message) }, "▸ continue"));
  }
  bar.append(el("button", { type: "button", class: "quiet danger", onclick: () => deleteMessage(message) }, "delete"));
  return bar;
}

// "with another model": the list is built when opened (a long window stays light).
function otherModelMenu(message) {
  const list = el("div", { class: "menu-items" });
  const menu = el("details", { class: "menu other-model" }, el("summary", { "aria-label": "regenerate with another model" }, "↻ model…"), list);
  menu.addEventListener("toggle", () => {
    if (!menu.open) return list.replaceChildren();
    list.replaceChildren(
      ...ctx.models().map((m) =>
        el("button", { type: "button", "data-model": m.id, onclick: () => {
          menu.open = false;
          ctx.regenerate(message, m.id);
        } }, m.id),
      ),
    );
  });
  return menu;
}

async function copyMessage(message, button) {
  try {
    await navigator.clipboard.writeText(message.content);
  } catch {
    const area = el("textarea", {}, message.content);
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  button.textContent = "copied ✓";
  button.classList.add("copied");
  setTimeout(() => {
    button.textContent = "copy";
    button.classList.remove("copied");
  }, 1500);
}

async function deleteMessage(message) {
  const what = message.role === "user" ? "this message and every answer below it" : "this answer and everything below it";
  if (!confirm(`Delete ${what}?`)) return;
  await call("DELETE", `/api/messages/${message.id}`);
  await loadMessages();
  ctx.refreshed?.();
}

// Show another version: the server moves the leaf under it and sends the branch below.
async function switchVersion(message, versionId) {
  if (!versionId || ctx.state.controllers.length) return;
  const page = await call("POST", `/api/sessions/${ctx.state.session.id}/switch`, { message_id: versionId });
  const node = document.querySelector(`#messages .msg[data-id="${message.id}"]`);
  if (!node) return loadMessages();
  const top = node.offsetTop;
  const box = $("#messages");
  const offset = top - box.scrollTop;
  dropFrom(node);
  box.append(...renderMessages(page.items));
  view.count = page.count;
  trim("top");
  const shown = document.querySelector(`#messages .msg[data-id="${versionId}"]`);
  if (shown) box.scrollTop = shown.offsetTop - offset; // the switched message stays put
  shown?.querySelector(".versions button:not([disabled])")?.focus();
  renderEdges();
}

// --- the live region: the finished answer only ---------------------------------------

export function announce(model, text) {
  const region = $("#answer-announcer");
  const words = text.length > 400 ? `${text.slice(0, 400)}…` : text;
  region.textContent = "";
  // A fresh text node after clearing, so a screen reader announces a repeat too.
  setTimeout(() => (region.textContent = words ? `Answer from ${model || "the model"}: ${words}` : `Answer from ${model || "the model"} finished.`), 50);
}

// --- find in chat ----------------------------------------------------------------------

function openFind() {
  $("#find-bar").hidden = false;
  $("#find-input").focus();
  $("#find-input").select();
}

function closeFind() {
  $("#find-bar").hidden = true;
  document.querySelector("#messages .found")?.classList.remove("found");
}

async function findNext(step) {
  const query = $("#find-input").value.trim();
  if (!query || !ctx.state.session) return;
  if (query !== find.query) await search(query);
  if (!find.count) {
    $("#find-count").textContent = "no match";
    return;
  }
  find.index = (find.index + step + find.count) % find.count;
  if (find.index >= find.items.length) await search(query, find.items.length);
  $("#find-count").textContent = `${find.index + 1}/${find.count}`;
  await goTo(find.items[find.index].message_id);
}

async function search(query, offset = 0) {
  const params = new URLSearchParams({ q: query, limit: 200, offset });
  const found = await call("GET", `/api/sessions/${ctx.state.session.id}/search?${params}`);
  if (!offset) {
    Object.assign(find, { query, items: [], index: -1 });
  }
  find.items = find.items.concat(found.items);
  find.count = found.count;
}

// Bring a message of the branch on screen: fetch the page around it when not shown.
async function goTo(messageId) {
  let node = document.querySelector(`#messages .msg[data-id="${messageId}"]`);
  if (!node) {
    showPage(await call("GET", messagesUrl({ around: messageId })));
    node = document.querySelector(`#messages .msg[data-id="${messageId}"]`);
  }
  if (!node) return;
  document.querySelector("#messages .found")?.classList.remove("found");
  node.classList.add("found");
  node.scrollIntoView({ block: "center" });
  renderEdges();
}

// A new session: find starts over.
export function resetFind() {
  Object.assign(find, { query: "", items: [], count: 0, index: -1 });
  $("#find-count").textContent = "";
  closeFind();
}

function typingIn(target) {
  return target.closest("input, textarea, select, [contenteditable]");
}

// --- wiring ------------------------------------------------------------------------

function wireConversation() {
  $("#messages").addEventListener("scroll", (e) => {
    const box = e.target;
    ctx.state.userScrolled = box.scrollHeight - box.scrollTop - box.clientHeight > 80;
    if (box.scrollTop < EDGE) loadOlder();
    else if (box.scrollHeight - box.scrollTop - box.clientHeight < EDGE) loadNewer();
    renderEdges();
  });
  $("#jump-first").addEventListener("click", jumpToFirst);
  $("#jump-latest").addEventListener("click", jumpToLatest);
  $("#find-open").addEventListener("click", openFind);
  $("#find-close").addEventListener("click", closeFind);
  $("#find-prev").addEventListener("click", () => findNext(-1));
  $("#find-bar").addEventListener("submit", (e) => {
    e.preventDefault();
    findNext(1);
  });
  $("#find-input").addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeFind();
    if (e.key === "Enter" && e.shiftKey) {
      e.preventDefault();
      findNext(-1);
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey && !typingIn(e.target)) {
      e.preventDefault();
      openFind();
    }
  });
}
