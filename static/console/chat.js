// The chat page: sessions, model and profile pickers, streaming conversation, playground.
import { call } from "./api.js";
import { el, loadMessages, messageNode, money, PAGE, resetFind, scrollDown, setupConversation } from "./conversation.js";
import { continueAnswer, edit, errorNode, pendingAnswer, refreshSessionMeta, regenerate, retry, send, setBusy, setupTurns, stop, streamInto } from "./turns.js";

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

// --- small DOM helpers ---------------------------------------------------------------

function perMillion(price) {
  return price === null || price === undefined ? "?" : `$${(price * 1e6).toFixed(2)}`;
}

function when(iso) {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : date.toLocaleDateString();
}

function notice(text) {
  const box = el("div", { class: "msg notice" }, text);
  $("#messages").append(box);
  scrollDown();
  setTimeout(() => box.remove(), 6000);
}

// --- sessions ------------------------------------------------------------------------

async function loadSessions(append = false) {
  const offset = append ? state.sessions.length : 0;
  const query = new URLSearchParams({ limit: PAGE, offset, search: state.search });
  const page = await call("GET", `/api/sessions?${query}`);
  state.sessions = append ? state.sessions.concat(page.items) : page.items;
  state.sessionCount = page.count;
  renderSessions();
}

function renderSessions() {
  const list = $("#session-list");
  list.replaceChildren(
    ...state.sessions.map((s) =>
      el(
        "li",
        { class: s.id === state.session?.id ? "active" : "", "data-id": s.id },
        el(
          "button",
          { type: "button", onclick: () => openSession(s.id) },
          el("span", { class: "s-title" }, s.title),
          el("span", { class: "s-meta" }, `${s.session_type} · ${when(s.updated_at)}`),
        ),
      ),
    ),
  );
  if (!state.sessions.length) list.append(el("li", { class: "empty" }, state.search ? "no match" : "no sessions yet"));
  $("#more-sessions").hidden = state.sessions.length >= state.sessionCount;
}

async function newSession() {
  const type = $("#new-type").value;
  const model = state.session?.model || lastModel() || "";
  const body = { session_type: type, model };
  if (type === "playground") body.title = "Playground";
  if (state.session?.profile_id) body.profile_id = state.session.profile_id;
  const session = await call("POST", "/api/sessions", body);
  state.search = "";
  $("#search").value = "";
  await loadSessions();
  await openSession(session.id);
  $("#input").focus();
}

function lastModel() {
  return localStorage.getItem("switchboard-model");
}

async function openSession(id) {
  // Sending waits until the conversation is loaded, or loading would wipe the new turn.
  state.loading = true;
  $("#messages").dataset.loaded = "0";
  state.session = await call("GET", `/api/sessions/${id}`);
  location.hash = id;
  state.editing = null;
  resetFind();
  document.body.classList.remove("show-sessions");
  renderHeader();
  // Only on opening: re-rendering after each PATCH would undo a choice still in flight.
  if (state.session.session_type === "playground") renderPlaygroundPickers();
  renderSessions();
  try {
    await loadMessages();
  } finally {
    state.loading = false;
    $("#messages").dataset.loaded = "1";
  }
}

async function patchSession(changes) {
  state.session = await call("PATCH", `/api/sessions/${state.session.id}`, changes);
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
  $("#export-md").href = s ? `/api/sessions/${s.id}/export?format=md` : "#";
  $("#export-json").href = s ? `/api/sessions/${s.id}/export?format=json` : "#";
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
  if (!s) return;
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
    if (state.sessions.length) await openSession(state.sessions[0].id);
    else await newSession();
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

function openSettings() {
  const dialog = $("#settings-dialog");
  const form = dialog.querySelector("form");
  const o = state.session.overrides || {};
  form.system_prompt.value = o.system_prompt ?? "";
  form.temperature.value = o.temperature ?? "";
  form.max_tokens.value = o.max_tokens ?? "";
  dialog.showModal();
  dialog.addEventListener(
    "close",
    async () => {
      if (dialog.returnValue !== "save") return;
      const overrides = { ...(state.session.overrides || {}) };
      const set = (key, value) => (value === "" ? delete overrides[key] : (overrides[key] = value));
      set("system_prompt", form.system_prompt.value);
      set("temperature", form.temperature.value === "" ? "" : Number(form.temperature.value));
      set("max_tokens", form.max_tokens.value === "" ? "" : Number(form.max_tokens.value));
      try {
        await patchSession({ overrides });
      } catch (error) {
        notice(`overrides not saved: ${error.message}`);
      }
    },
    { once: true },
  );
}

// --- models and profiles -------------------------------------------------------------

async function loadPickers() {
  [state.models, state.profiles] = await Promise.all([call("GET", "/api/chat/models"), call("GET", "/api/profiles")]);
  const select = $("#profile");
  select.replaceChildren(
    el("option", { value: "" }, "(none)"),
    ...state.profiles.map((p) => el("option", { value: p.id }, p.name + (p.shared ? "" : " ·mine"))),
  );
  renderModelList();
}

function modelEntry(id) {
  return state.models.find((m) => m.id === id);
}

function renderModelList() {
  const text = $("#model-filter").value.toLowerCase();
  const vision = $("#only-vision").checked;
  const free = $("#only-free").checked;
  const routes = $("#only-routes").checked;
  const shown = state.models.filter(
    (m) =>
      (!text || m.id.toLowerCase().includes(text) || (m.name || "").toLowerCase().includes(text)) &&
      (!vision || m.vision) &&
      (!free || m.free) &&
      (!routes || m.kind === "route"),
  );
  $("#model-list").replaceChildren(
    ...shown.map((m) =>
      el(
        "li",
        { role: "option", "data-id": m.id, onclick: () => chooseModel(m.id) },
        el("span", { class: "m-id" }, m.id),
        m.kind === "route" ? el("span", { class: "badge" }, "route") : null,
        m.vision ? el("span", { class: "badge vision" }, "vision") : null,
        m.free ? el("span", { class: "badge free" }, "free") : null,
        m.reasoning ? el("span", { class: "badge" }, "reasoning") : null,
        m.kind === "model"
          ? el(
              "span",
              { class: "m-meta" },
              `${m.context_length ? Math.round(m.context_length / 1000) + "k ctx · " : ""}in ${perMillion(m.prompt_price)} / out ${perMillion(m.completion_price)} per 1M`,
            )
          : null,
      ),
    ),
  );
  if (!shown.length) $("#model-list").append(el("li", { class: "empty" }, "no model matches"));
}

async function chooseModel(id) {
  $("#model-panel").hidden = true;
  localStorage.setItem("switchboard-model", id);
  if (state.session) await patchSession({ model: id });
}

function renderPlaygroundPickers() {
  const chosen = state.session.overrides?.models || [state.session.model].filter(Boolean);
  for (const select of document.querySelectorAll("#playground-models select")) {
    const slot = Number(select.dataset.slot);
    select.replaceChildren(
      el("option", { value: "" }, "—"),
      ...state.models.map((m) => el("option", { value: m.id }, m.id)),
    );
    select.value = chosen[slot] || "";
  }
}

function playgroundModels() {
  return [...document.querySelectorAll("#playground-models select")].map((s) => s.value).filter(Boolean);
}

// --- playground -----------------------------------------------------------------

async function sendPlayground(content, images) {
  const models = playgroundModels();
  if (!models.length) {
    notice("Pick up to three models to compare.");
    return;
  }
  $("#messages .empty")?.remove();
  let prompt;
  try {
    prompt = await call("POST", `/api/sessions/${state.session.id}/messages`, { content, images });
  } catch (error) {
    $("#messages").append(errorNode({ code: "request", message: error.message }));
    return;
  }
  $("#messages").append(messageNode(prompt));
  const grid = el("div", { class: "compare" });
  $("#messages").append(grid);
  clearComposer(false);
  setBusy(true);
  const runs = models.map((model) => {
    const node = pendingAnswer(model);
    grid.append(node);
    return streamInto(node, { session_id: state.session.id, reply_to: prompt.id, model, content: "" });
  });
  await Promise.all(runs);
  state.controllers = [];
  setBusy(false);
  refreshSessionMeta();
}

// --- attachments ---------------------------------------------------------------------

function modelTakesImages() {
  const ids = state.session?.session_type === "playground" ? playgroundModels() : [state.session?.model];
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

function wire() {
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
  $("#new-session").addEventListener("click", newSession);
  let searchTimer;
  $("#search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.search = e.target.value;
      loadSessions();
    }, 200);
  });
  $("#more-sessions").addEventListener("click", () => loadSessions(true));
  $("#title").addEventListener("click", () => state.session && startRename());
  for (const button of document.querySelectorAll("#session-menu [data-action]")) {
    button.addEventListener("click", () => sessionAction(button.dataset.action));
  }
  $("#model-button").addEventListener("click", () => {
    $("#model-panel").hidden = !$("#model-panel").hidden;
    if (!$("#model-panel").hidden) $("#model-filter").focus();
  });
  for (const id of ["#model-filter", "#only-vision", "#only-free", "#only-routes"]) {
    $(id).addEventListener("input", renderModelList);
  }
  $("#profile").addEventListener("change", (e) => {
    const value = e.target.value;
    patchSession({ profile_id: value ? Number(value) : null });
  });
  for (const select of document.querySelectorAll("#playground-models select")) {
    select.addEventListener("change", () => {
      const models = playgroundModels();
      patchSession({ overrides: { ...(state.session.overrides || {}), models } });
    });
  }
  $("#toggle-sessions").addEventListener("click", () => document.body.classList.toggle("show-sessions"));
  document.addEventListener("click", (e) => {
    if (!$("#model-picker").contains(e.target)) $("#model-panel").hidden = true;
  });
}

// The message list (conversation.js) and the turns (turns.js) get what they use of this page.
function setupModules() {
  setupConversation({ state, models: () => state.models, edit, regenerate, retry, continueAnswer, refreshed: refreshSessionMeta });
  setupTurns({ state, notice, renderTotal, loadSessions, clearComposer, renderAttachments, sendPlayground });
}

async function start() {
  setupModules();
  wire();
  await loadPickers();
  await loadSessions();
  const wanted = location.hash.slice(1);
  if (wanted && !state.sessions.some((s) => s.id === wanted)) {
    try {
      return await openSession(wanted);
    } catch {
      location.hash = "";
    }
  }
  if (wanted && state.sessions.some((s) => s.id === wanted)) return openSession(wanted);
  if (state.sessions.length) return openSession(state.sessions[0].id);
  return newSession();
}

start()
  .catch((error) => notice(`The console could not start: ${error.message}`))
  .finally(() => (document.body.dataset.ready = "1"));
