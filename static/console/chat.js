// The chat page: model and profile pickers, streaming conversation, playground; which
// session is open and the session list live in sessions.js.
import { call } from "./api.js";
import { loadMessages, money, resetFind, scrollDown, setupConversation } from "./conversation.js";
import { el } from "./dom.js";
import { createDrawer } from "./drawer.js";
import { menus, wireEscape, wireMenus, wireSkipLinks } from "./keyboard.js";
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
import {
  continueAnswer,
  edit,
  refreshSessionMeta,
  regenerate,
  retry,
  send,
  setBusy,
  setupTurns,
  stop,
  streamInto,
} from "./turns.js";

const $ = (selector) => document.querySelector(selector);

const state = {
  sessions: [],
  sessionCount: 0,
  search: "",
  session: null,
  models: [],
  profiles: [],
  attachments: [],
  controllers: [],
  editing: null, // { id }: the question the composer is writing a new version of
};
// The page's parts in their own modules (model picker, playground, dialogs, drawer), made in wire().
const parts = {};

// --- small DOM helpers ---------------------------------------------------------------

function notice(text) {
  const box = el("div", { class: "msg notice" }, text);
  $("#messages").append(box);
  scrollDown();
  setTimeout(() => box.remove(), 6000);
}

// --- the open session ----------------------------------------------------------------

// Draws the session sessions.js opened: saved (its messages load) or a draft (empty).
async function showSession(session) {
  document.body.classList.remove("show-sessions");
  renderHeader();
  // Only on opening: re-rendering after each PATCH would undo a choice still in flight.
  if (session.session_type === "playground") parts.playground.open(session);
  state.editing = null;
  resetFind();
  if (!session.draft) return loadMessages();
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

// --- playground ----------------------------------------------------------------------

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
}

// The message list (conversation.js) and the turns (turns.js) get what they use of this page.
function setupModules() {
  setupConversation({ state, models: () => state.models, edit, regenerate, retry, continueAnswer, refreshed: refreshSessionMeta });
  setupTurns({ state, notice, renderTotal, loadSessions, clearComposer, renderAttachments, sendPlayground });
}

async function start() {
  setupModules();
  wire();
  wireSessions(state, { show: showSession, saved: renderHeader, refresh: refreshSessionMeta, notice });
  await loadPickers();
  await loadSessions();
  await openFromUrl();
}

start()
  .catch((error) => notice(`The console could not start: ${error.message}`))
  .finally(() => (document.body.dataset.ready = "1"));
