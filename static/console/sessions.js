// Which conversation the chat page shows, and the list of them. The URL names it:
//   /c/<id>        a saved session: Back and Forward move between sessions, reload reopens it
//   /?new=<type>   a draft: type, model and profile chosen here, nothing saved until the
//                  first message is sent (ensureSession), so "+ new" leaves no empty sessions
//   /              the latest session, or a draft when there is none yet
// Old links of the form /#<id> still open their session.
import { call } from "./api.js";
import { el } from "./dom.js";

const PAGE = 50;
const TYPES = ["chat", "code", "documents", "playground"];
const $ = (selector) => document.querySelector(selector);

// The page's shared state and how chat.js shows a session; set once by wireSessions().
const page = { state: null, show: null, saved: null, refresh: null, notice: null };

// `show(session)` draws an opened session (saved or draft); `saved(session)` redraws what
// names a draft that was just saved (its export links); `refresh()` re-reads the saved
// one's title and totals after an answer; `notice(text)` tells the user something.
export function wireSessions(state, { show, saved, refresh, notice }) {
  Object.assign(page, { state, show, saved, refresh, notice });
  $("#new-session").addEventListener("click", () => newSession());
  $("#more-sessions").addEventListener("click", () => loadSessions(true));
  let searchTimer;
  $("#search").addEventListener("input", (e) => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.search = e.target.value;
      loadSessions();
    }, 200);
  });
  window.addEventListener("popstate", () => openFromUrl().catch((error) => notice(error.message)));
}

export function currentSession() {
  return page.state.session;
}

export function sessionUrl(session) {
  return session.draft ? `/?new=${session.session_type}` : `/c/${session.id}`;
}

// --- the list ------------------------------------------------------------------------

function when(iso) {
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : date.toLocaleDateString();
}

export async function loadSessions(append = false) {
  const state = page.state;
  const offset = append ? state.sessions.length : 0;
  const query = new URLSearchParams({ limit: PAGE, offset, search: state.search });
  const found = await call("GET", `/api/sessions?${query}`);
  state.sessions = append ? state.sessions.concat(found.items) : found.items;
  state.sessionCount = found.count;
  renderSessions();
}

export function renderSessions() {
  const state = page.state;
  const list = $("#session-list");
  list.replaceChildren(
    ...state.sessions.map((s) =>
      el(
        "li",
        { class: s.id === state.session?.id ? "active" : "", "data-id": s.id },
        el(
          "button",
          { type: "button", onclick: () => openListed(s.id) },
          el("span", { class: "s-title" }, s.title),
          el("span", { class: "s-meta" }, `${s.session_type} · ${when(s.updated_at)}`),
        ),
      ),
    ),
  );
  if (!state.sessions.length) list.append(el("li", { class: "empty" }, state.search ? "no match" : "no sessions yet"));
  $("#more-sessions").hidden = state.sessions.length >= state.sessionCount;
}

async function openListed(id) {
  try {
    await openSession(id);
  } catch (error) {
    page.notice(`That session could not be opened: ${error.message}`);
    await loadSessions();
  }
}

// --- opening -------------------------------------------------------------------------

// How an opening changes the address: "push" a new history entry (a click), "replace"
// the current one (a fallback, a first start), or "none" (Back/Forward already moved it).
function moveUrl(session, how) {
  const url = sessionUrl(session);
  if (how === "none" || location.pathname + location.search === url) return;
  if (how === "push") history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

async function present(session, how) {
  const state = page.state;
  state.session = session;
  state.failedTurn = false;
  moveUrl(session, how);
  renderSessions();
  try {
    await page.show(session);
  } finally {
    state.loading = false;
    $("#messages").dataset.loaded = "1";
  }
}

export async function openSession(id, how = "push") {
  // Sending waits until the conversation is loaded, or loading would wipe the new turn.
  page.state.loading = true;
  $("#messages").dataset.loaded = "0";
  let session;
  try {
    session = await call("GET", `/api/sessions/${id}`);
  } catch (error) {
    page.state.loading = false;
    $("#messages").dataset.loaded = "1";
    throw error;
  }
  await present(session, how);
}

export function lastModel() {
  return localStorage.getItem("switchboard-model");
}

// A new session's model: its profile's default, else the first route (the picker lists
// routes by name, first), else the model used last, else none.
function defaultModel(profileId) {
  const state = page.state;
  const profile = state.profiles.find((p) => p.id === profileId);
  const route = state.models.find((m) => m.kind === "route");
  return profile?.model || route?.id || lastModel() || "";
}

function draft(type) {
  const profileId = page.state.session?.profile_id ?? null;
  return {
    id: null,
    draft: true,
    session_type: TYPES.includes(type) ? type : "chat",
    title: type === "playground" ? "Playground" : "New chat",
    model: defaultModel(profileId),
    profile_id: profileId,
    overrides: {},
    message_count: 0,
    total_tokens: 0,
    total_cost_usd: 0,
    current_leaf_id: null,
  };
}

export async function newSession(type = $("#new-type").value, how = "push") {
  const state = page.state;
  if (state.search) {
    state.search = "";
    $("#search").value = "";
    loadSessions().catch((error) => page.notice(error.message));
  }
  await present(draft(type), how);
  $("#input").focus();
}

// The session the URL names, without adding to the history (a start, Back or Forward).
export async function openFromUrl() {
  const legacy = location.pathname === "/" && /^#[0-9a-f-]{36}$/i.test(location.hash);
  if (legacy) history.replaceState(null, "", `/c/${location.hash.slice(1)}`);
  const named = location.pathname.match(/^\/c\/([^/]+)$/);
  if (named) {
    const id = decodeURIComponent(named[1]);
    try {
      return await openSession(id, "none");
    } catch {
      await openLatest();
      page.notice(`There is no session ${id} of yours (deleted, or never yours): showing your latest instead.`);
      return;
    }
  }
  const type = new URLSearchParams(location.search).get("new");
  if (type !== null) return newSession(type, "none");
  return openLatest();
}

async function openLatest() {
  const state = page.state;
  if (state.sessions.length) return openSession(state.sessions[0].id, "replace");
  return newSession("chat", "replace");
}

// --- saving --------------------------------------------------------------------------

// The session to send in: a draft is created on the server now, with its type, title,
// model, profile and overrides, and the address becomes the saved session's (replacing
// the draft's, so Back goes to where one was before "+ new"). null when it failed.
export async function ensureSession() {
  const state = page.state;
  const current = state.session;
  if (!current?.draft) return current;
  const body = { session_type: current.session_type, title: current.title, model: current.model };
  if (current.profile_id) body.profile_id = current.profile_id;
  if (Object.keys(current.overrides).length) body.overrides = current.overrides;
  let saved;
  try {
    saved = await call("POST", "/api/sessions", body);
  } catch (error) {
    page.notice(`The session could not be saved: ${error.message}`);
    return null;
  }
  if (state.session === current) {
    state.session = saved;
    moveUrl(saved, "replace");
    page.saved(saved);
  }
  loadSessions().catch((error) => page.notice(error.message));
  return saved;
}

// A change of title, model, profile or overrides: kept in the draft, or PATCHed.
export async function updateSession(changes) {
  const session = page.state.session;
  if (session.draft) return Object.assign(session, changes);
  return call("PATCH", `/api/sessions/${session.id}`, changes);
}

// After an answer outside the chat stream (documents): the title and totals again.
export async function refreshSession() {
  if (!page.state.session?.draft) await page.refresh();
}
