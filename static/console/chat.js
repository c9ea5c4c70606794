// The chat page: model and profile pickers, streaming conversation, playground; which
// session is open and the session list live in sessions.js.
import { call, streamChat } from "./api.js";
import { createDrawer } from "./drawer.js";
import { menus, wireEscape, wireMenus, wireSkipLinks } from "./keyboard.js";
import { askDocuments, citationList } from "./documents.js";
import { renderInto, throttledRenderer } from "./markdown.js";
import { createModelPicker } from "./picker.js";
import { createPlayground } from "./playground.js";
import { createOverridesDialog, createProfileEditor } from "./profiles.js";
import {
  ensureSession,
  loadSessions,
  newSession,
  openFromUrl,
  openSession,
  renderSessions,
  updateSession,
  wireSessions,
} from "./sessions.js";

const $ = (selector) => document.querySelector(selector);
const PAGE = 50;

const state = {
  sessions: [],
  sessionCount: 0,
  search: "",
  session: null,
  models: [],
  profiles: [],
  oldestId: null,
  hasOlder: false,
  attachments: [],
  controllers: [],
  failedTurn: false,
};
// The page's parts in their own modules (model picker, playground, dialogs, drawer), made in wire().
const parts = {};

// --- small DOM helpers ---------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function money(value) {
  if (!value) return "$0";
  return value < 0.01 ? `$${value.toFixed(6)}` : `$${value.toFixed(4)}`;
}

function notice(text) {
  const box = el("div", { class: "msg notice" }, text);
  $("#messages").append(box);
  scrollDown();
  setTimeout(() => box.remove(), 6000);
}

function scrollDown() {
  const box = $("#messages");
  box.scrollTop = box.scrollHeight;
}

// --- the open session ----------------------------------------------------------------

// Draws the session sessions.js opened: saved (its messages load) or a draft (empty).
async function showSession(session) {
  document.body.classList.remove("show-sessions");
  renderHeader();
  // Only on opening: re-rendering after each PATCH would undo a choice still in flight.
  if (session.session_type === "playground") parts.playground.open(session);
  if (!session.draft) return loadMessages();
  state.oldestId = null;
  state.hasOlder = false;
  $("#messages").replaceChildren(el("p", { class: "empty" }, "> pick a model and say something_"));
}

async function patchSession(changes) {
  state.session = await updateSession(changes);
  renderHeader();
  const index = state.sessions.findIndex((s) => s.id === state.session.id);
  if (index >= 0) state.sessions[index] = state.session;
  renderSessions();
}

function renderHeader() {
  const s = state.session;
  $("#title").textContent = s ? s.title : "New chat";
  $("#type-badge").textContent = s ? s.session_type : "chat";
  $("#model-name").textContent = s?.model || "choose…";
  $("#profile").value = s?.profile_id ?? "";
  $("#export-md").href = s?.id ? `/api/sessions/${s.id}/export?format=md` : "#";
  $("#export-json").href = s?.id ? `/api/sessions/${s.id}/export?format=json` : "#";
  const playground = s?.session_type === "playground";
  $("#chat").classList.toggle("playground", playground);
  $("#playground-models").hidden = !playground;
  $("#model-picker").hidden = playground;
  // Documents sessions show the documents panel (upload, pick, ask with citations).
  $("#documents-slot").hidden = s?.session_type !== "documents";
  renderTotal();
}

function renderTotal() {
  const s = state.session;
  $("#total").textContent = s ? `Σ ${s.total_tokens} tok · ${money(s.total_cost_usd)}` : "";
}

async function sessionAction(action) {
  $("#session-menu").open = false;
  const s = state.session;
  if (!s || (s.draft && (action === "clone" || action === "delete"))) return;
  if (action === "rename") return startRename();
  if (action === "settings") return openSettings();
  if (action === "clone") {
    const copy = await call("POST", `/api/sessions/${s.id}/clone`);
    await loadSessions();
    return openSession(copy.id);
  }
  if (action === "delete" && confirm(`Delete "${s.title}"?`)) {
    await call("DELETE", `/api/sessions/${s.id}`);
    state.session = null;
    await loadSessions();
    if (state.sessions.length) await openSession(state.sessions[0].id, "replace");
    else await newSession(undefined, "replace");
  }
}

function startRename() {
  const title = $("#title");
  const input = el("input", { class: "rename", value: state.session.title, "aria-label": "title" });
  title.replaceWith(input);
  input.focus();
  input.select();
  const finish = async (save) => {
    input.replaceWith(title);
    if (save && input.value.trim() && input.value !== state.session.title) await patchSession({ title: input.value.trim() });
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") finish(true);
    if (e.key === "Escape") finish(false);
  });
  input.addEventListener("blur", () => input.isConnected && finish(true));
}

// The overrides keep the playground's `models`; the dialog edits all the rest.
function openSettings() {
  parts.overrides.open(state.session, currentProfile(), async (overrides) => {
    const models = state.session.overrides?.models;
    await patchSession({ overrides: models ? { ...overrides, models } : overrides });
  });
}

// --- models and profiles -------------------------------------------------------------

async function loadPickers() {
  [state.models, state.profiles] = await Promise.all([call("GET", "/api/chat/models"), call("GET", "/api/profiles")]);
  renderProfiles();
  parts.picker.setModels(state.models);
  parts.playground.setModels(state.models);
  $("#model-ids").replaceChildren(...state.models.map((m) => el("option", { value: m.id })));
}

function renderProfiles() {
  const select = $("#profile");
  select.replaceChildren(
    el("option", { value: "" }, "(none)"),
    ...state.profiles.map((p) => el("option", { value: p.id }, p.name + (p.shared ? "" : " ·mine"))),
  );
  select.value = state.session?.profile_id ?? "";
}

// The profile shown in the select: a change may still be on its way to the server.
function currentProfile() {
  return state.profiles.find((p) => String(p.id) === $("#profile").value) || null;
}

// A new profile, or the session's one edited; a saved profile becomes the session's.
async function editProfile(create) {
  const profile = create ? null : currentProfile();
  const result = profile ? await parts.profiles.edit(profile) : await parts.profiles.create();
  if (!result) return;
  state.profiles = await call("GET", "/api/profiles");
  renderProfiles();
  if (!state.session) return;
  if (result.saved) await patchSession({ profile_id: result.saved.id });
  else if (result.deleted) {
    state.session = await call("GET", `/api/sessions/${state.session.id}`);
    renderHeader();
  }
}

function modelEntry(id) {
  return state.models.find((m) => m.id === id);
}

async function chooseModel(id) {
  localStorage.setItem("switchboard-model", id);
  if (state.session) await patchSession({ model: id });
}

function savePlaygroundModels(models) {
  return patchSession({ overrides: { ...(state.session.overrides || {}), models } });
}

// --- messages ------------------------------------------------------------------------

async function loadMessages() {
  const box = $("#messages");
  box.replaceChildren();
  const page = await call("GET", `/api/sessions/${state.session.id}/messages?limit=${PAGE}&newest=true`);
  state.oldestId = page.items.length ? page.items[0].id : null;
  state.hasOlder = page.count > page.items.length;
  renderMessages(page.items, false);
  if (!page.items.length) box.append(el("p", { class: "empty" }, "> pick a model and say something_"));
  markLastTurn();
  scrollDown();
}

async function loadOlder() {
  if (!state.hasOlder || !state.oldestId || state.loadingOlder) return;
  state.loadingOlder = true;
  const box = $("#messages");
  const before = box.scrollHeight;
  const page = await call(
    "GET",
    `/api/sessions/${state.session.id}/messages?limit=${PAGE}&before=${state.oldestId}`,
  );
  if (page.items.length) {
    state.oldestId = page.items[0].id;
    renderMessages(page.items, true);
    box.scrollTop = box.scrollHeight - before;
  }
  state.hasOlder = page.items.length === PAGE;
  state.loadingOlder = false;
}

function renderMessages(messages, prepend) {
  const nodes = [];
  let grid = null;
  const playground = state.session.session_type === "playground";
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
  const box = $("#messages");
  if (prepend) box.prepend(...nodes);
  else box.append(...nodes);
}

function messageNode(message) {
  const body = el("div", { class: "body" });
  renderInto(body, message.content);
  const node = el(
    "article",
    { class: `msg ${message.role} ${message.status || ""}`, "data-id": message.id ?? "" },
    el("header", {}, el("span", { class: "role" }, message.role === "user" ? "you" : message.model || message.role)),
    body,
  );
  if (message.citations?.length) node.append(citationList(message.citations));
  if (message.images?.length) {
    node.append(el("div", { class: "thumbs" }, ...message.images.map((src) => el("img", { src, alt: "attached image" }))));
  }
  if (message.role === "assistant") node.append(statsLine(message));
  return node;
}

function statsLine(message) {
  const parts = [];
  if (message.status === "stopped") parts.push("⏹ stopped");
  if (message.status === "error") parts.push(`⚠ ${message.error || "failed"}`);
  if (message.prompt_tokens || message.completion_tokens)
    parts.push(`${message.prompt_tokens}+${message.completion_tokens} tok`, money(message.cost_usd));
  if (message.ttft_ms != null) parts.push(`ttft ${message.ttft_ms} ms`);
  if (message.latency_ms != null) parts.push(`${(message.latency_ms / 1000).toFixed(2)} s`);
  return el("footer", { class: "stats" }, parts.join(" · "));
}

// Regenerate sits on the last answer, edit on the last question.
function markLastTurn() {
  for (const old of document.querySelectorAll(".turn-action")) old.remove();
  // Regenerate and edit go through the chat stream, which knows nothing of documents.
  if (["playground", "documents"].includes(state.session.session_type)) return;
  const all = [...document.querySelectorAll("#messages > .msg.user, #messages > .msg.assistant")];
  const lastUser = all.filter((n) => n.classList.contains("user")).pop();
  const lastAnswer = all[all.length - 1];
  if (lastAnswer && lastAnswer.classList.contains("assistant")) {
    lastAnswer.append(el("button", { type: "button", class: "turn-action quiet", onclick: () => regenerate() }, "↻ regenerate"));
  }
  if (lastUser) {
    lastUser.append(el("button", { type: "button", class: "turn-action quiet", onclick: () => editLast(lastUser) }, "✎ edit"));
  }
}

function editLast(node) {
  const text = node.querySelector(".body").innerText;
  $("#input").value = text;
  $("#input").focus();
  state.editing = true;
  $("#send").textContent = "resend ⏎";
}

// --- sending -------------------------------------------------------------------------

function setBusy(busy) {
  $("#send").disabled = busy;
  $("#stop").hidden = !busy;
}

function errorNode(data) {
  return el(
    "div",
    { class: "msg error-box", role: "alert" },
    el("b", {}, `✗ ${data.code || "error"}: `),
    data.message || "the request failed",
  );
}

// One streamed answer into `node`; resolves with how it ended.
async function streamInto(node, body) {
  const controller = new AbortController();
  state.controllers.push(controller);
  const answer = node.querySelector(".body");
  const render = throttledRenderer(answer);
  const started = performance.now();
  let text = "";
  let outcome = "stopped";
  node.classList.add("streaming");
  try {
    await streamChat(
      body,
      (name, data) => {
        if (name === "token") {
          text += data.text;
          render(text);
          if (!node.dataset.ttft) node.dataset.ttft = Math.round(performance.now() - started);
          if (!state.userScrolled) scrollDown();
        } else if (name === "usage") {
          node.querySelector(".stats")?.remove();
          node.append(statsLine({ ...data, status: "complete" }));
          state.session.total_tokens += data.prompt_tokens + data.completion_tokens;
          state.session.total_cost_usd += data.cost_usd;
          renderTotal();
          if (data.model) node.querySelector(".role").textContent = data.model;
        } else if (name === "done") {
          node.dataset.id = data.message_id;
          outcome = "done";
        } else if (name === "error") {
          outcome = "error";
          node.after(errorNode(data));
          if (!text) node.remove();
          else node.classList.add("error");
        }
      },
      controller.signal,
    );
  } catch (error) {
    if (error.name !== "AbortError") {
      outcome = "error";
      node.after(errorNode({ code: "network", message: error.message }));
    }
  } finally {
    node.classList.remove("streaming");
    renderInto(answer, text);
    if (outcome === "stopped") {
      node.classList.add("stopped");
      node.append(el("footer", { class: "stats" }, "⏹ stopped"));
    }
  }
  return outcome;
}

function pendingAnswer(model) {
  return el(
    "article",
    { class: "msg assistant" },
    el("header", {}, el("span", { class: "role" }, model || "assistant")),
    el("div", { class: "body" }, ""),
  );
}

async function send(event) {
  event?.preventDefault();
  if (!state.session || state.loading || state.controllers.length) return;
  const input = $("#input");
  const content = input.value;
  const images = state.attachments.map((a) => a.url);
  if (!content.trim() && !images.length) return;
  if (state.session.session_type === "documents") return askDocuments(content);
  if (state.session.session_type === "playground") return sendPlayground(content, images);
  if (!state.session.model) {
    notice("Choose a model first (model: choose…).");
    return;
  }
  if (!(await ensureSession())) return;
  const resend = state.editing || state.failedTurn;
  const body = { session_id: state.session.id, content, images };
  if (resend) body.regenerate = true;
  $("#messages .empty")?.remove();
  if (resend) dropLastTurn();
  const userNode = messageNode({ role: "user", content, images });
  const answerNode = pendingAnswer(state.session.model);
  $("#messages").append(userNode, answerNode);
  clearComposer(false);
  scrollDown();
  await runTurn(answerNode, body, content, images);
}

// The input is cleared only once the turn succeeded, so nothing typed is ever lost.
async function runTurn(answerNode, body, content, images) {
  setBusy(true);
  const outcome = await streamInto(answerNode, body);
  state.controllers = [];
  setBusy(false);
  state.failedTurn = outcome === "error";
  state.editing = false;
  $("#send").textContent = state.failedTurn ? "retry ⏎" : "send ⏎";
  if (outcome === "error") {
    if (!$("#input").value) $("#input").value = content;
    state.attachments = images.map((url) => ({ url }));
    renderAttachments();
  }
  markLastTurn();
  refreshSessionMeta();
}

function dropLastTurn() {
  const all = [...document.querySelectorAll("#messages > *")];
  const lastUser = all.filter((n) => n.classList.contains("user")).pop();
  if (!lastUser) return;
  let node = lastUser;
  while (node) {
    const next = node.nextElementSibling;
    node.remove();
    node = next;
  }
}

async function regenerate() {
  if (state.controllers.length) return;
  const all = [...document.querySelectorAll("#messages > *")];
  const lastUser = all.filter((n) => n.classList.contains("user")).pop();
  if (!lastUser) return;
  let node = lastUser.nextElementSibling;
  while (node) {
    const next = node.nextElementSibling;
    node.remove();
    node = next;
  }
  const answerNode = pendingAnswer(state.session.model);
  $("#messages").append(answerNode);
  await runTurn(answerNode, { session_id: state.session.id, content: "", regenerate: true }, "", []);
}

// One prompt, saved once, then answered by every column's model at the same time.
async function sendPlayground(content, images) {
  if (!parts.playground.chosen().length) {
    parts.playground.notice("Pick up to three models to compare.");
    return;
  }
  if (!(await ensureSession())) return;
  let prompt;
  try {
    prompt = await call("POST", `/api/sessions/${state.session.id}/messages`, { content, images });
  } catch (error) {
    parts.playground.notice(`not sent: ${error.message}`);
    return;
  }
  clearComposer(false);
  setBusy(true);
  const runs = parts.playground.beginTurn(prompt).map(({ model, node }) =>
    streamInto(node, { session_id: state.session.id, reply_to: prompt.id, model, content: "" }),
  );
  await Promise.all(runs);
  state.controllers = [];
  setBusy(false);
  await parts.playground.endTurn();
  refreshSessionMeta();
}

async function refreshSessionMeta() {
  const fresh = await call("GET", `/api/sessions/${state.session.id}`);
  state.session = fresh;
  renderTotal();
  $("#title").textContent = fresh.title;
  await loadSessions();
}

function stop() {
  for (const controller of state.controllers) controller.abort();
}

// --- attachments ---------------------------------------------------------------------

function modelTakesImages() {
  const ids = state.session?.session_type === "playground" ? parts.playground.chosen() : [state.session?.model];
  return ids.some((id) => {
    const entry = modelEntry(id);
    return entry && (entry.vision || entry.kind === "route");
  });
}

async function attach(files) {
  const images = [...files].filter((f) => f.type.startsWith("image/"));
  if (!images.length) return;
  if (!modelTakesImages()) {
    notice(`${state.session?.model || "This model"} does not take images; pick a vision model.`);
    return;
  }
  for (const file of images) {
    const url = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(file);
    });
    state.attachments.push({ url, name: file.name });
  }
  renderAttachments();
}

function renderAttachments() {
  $("#attachments").replaceChildren(
    ...state.attachments.map((a, index) =>
      el(
        "span",
        { class: "attachment" },
        el("img", { src: a.url, alt: a.name || "image" }),
        el("button", { type: "button", class: "quiet", "aria-label": "remove image", onclick: () => {
          state.attachments.splice(index, 1);
          renderAttachments();
        } }, "×"),
      ),
    ),
  );
}

function clearComposer(keepText) {
  if (!keepText) $("#input").value = "";
  state.attachments = [];
  renderAttachments();
}

// --- wiring --------------------------------------------------------------------------

function makeParts() {
  parts.picker = createModelPicker($("#model-picker"), { current: () => state.session?.model, onChoose: chooseModel });
  parts.playground = createPlayground($("#playground-models"), { call, onChange: savePlaygroundModels });
  parts.profiles = createProfileEditor($("#profile-dialog"), { call });
  parts.overrides = createOverridesDialog($("#settings-dialog"));
  parts.drawer = createDrawer({
    drawer: $("#sessions"),
    toggle: $("#toggle-sessions"),
    close: $("#close-sessions"),
    backdrop: $("#drawer-backdrop"),
    behind: [$("#conversation"), $("header.bar"), $(".skip-link")],
  });
}

// Escape closes the innermost open thing; with nothing open it stops a running answer.
const streaming = { isOpen: () => !$("#stop").hidden, close: () => $("#stop").click() };

function wire() {
  makeParts();
  wireEscape([parts.picker, menus, parts.drawer, streaming]);
  wireMenus();
  wireSkipLinks();
  $("#composer").addEventListener("submit", send);
  $("#input").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  $("#input").addEventListener("paste", (e) => {
    const files = [...e.clipboardData.files];
    if (files.length) {
      e.preventDefault();
      attach(files);
    }
  });
  const composer = $("#composer");
  composer.addEventListener("dragover", (e) => {
    e.preventDefault();
    composer.classList.add("drop");
  });
  composer.addEventListener("dragleave", () => composer.classList.remove("drop"));
  composer.addEventListener("drop", (e) => {
    e.preventDefault();
    composer.classList.remove("drop");
    attach(e.dataTransfer.files);
  });
  $("#attach").addEventListener("click", () => $("#file").click());
  $("#file").addEventListener("change", (e) => {
    attach(e.target.files);
    e.target.value = "";
  });
  $("#stop").addEventListener("click", stop);
  $("#title").addEventListener("click", () => state.session && startRename());
  for (const button of document.querySelectorAll("#session-menu [data-action]")) {
    button.addEventListener("click", () => sessionAction(button.dataset.action));
  }
  $("#profile").addEventListener("change", (e) => {
    const value = e.target.value;
    patchSession({ profile_id: value ? Number(value) : null });
  });
  $("#profile-edit").addEventListener("click", () => editProfile(false));
  $("#profile-new").addEventListener("click", () => editProfile(true));
  $("#messages").addEventListener("scroll", (e) => {
    const box = e.target;
    state.userScrolled = box.scrollHeight - box.scrollTop - box.clientHeight > 80;
    if (box.scrollTop < 40) loadOlder();
  });
}

async function start() {
  wire();
  wireSessions(state, { show: showSession, saved: renderHeader, refresh: refreshSessionMeta, notice });
  await loadPickers();
  await loadSessions();
  await openFromUrl();
}

start()
  .catch((error) => notice(`The console could not start: ${error.message}`))
  .finally(() => (document.body.dataset.ready = "1"));
