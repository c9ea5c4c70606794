// The documents panel: upload with progress, status polling, pick the documents to ask
// about, and the dialog that shows a cited passage. Questions come from the chat page's
// one composer (askDocuments): the question and its streamed answer are kept as messages
// of the documents session, with the citations listed under the answer.

import { call, csrfToken, readEvents } from "./api.js";
import { el } from "./dom.js";
import { renderInto, throttledRenderer } from "./markdown.js";
import { currentSession, ensureSession, refreshSession } from "./sessions.js";

const PICKED = "switchboard-documents"; // the picked ids survive a reload

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// Upload one file with XMLHttpRequest: fetch cannot report upload progress.
function uploadFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/documents/upload");
    request.setRequestHeader("X-CSRFToken", csrfToken());
    request.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    request.onload = () => {
      let data = {};
      try { data = JSON.parse(request.responseText); } catch { /* not JSON */ }
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new Error(data.detail || `HTTP ${request.status}`));
    };
    request.onerror = () => reject(new Error("network error"));
    const form = new FormData();
    form.append("file", file);
    request.send(form);
  });
}

class DocumentsPanel {
  constructor(root) {
    this.root = root;
    this.maxBytes = Number(root.dataset.maxBytes) || 10 * 1024 * 1024;
    this.selected = new Set(JSON.parse(localStorage.getItem(PICKED) || "[]"));
    this.documents = [];
    this.q = (selector) => root.querySelector(selector);
    this.q(".docs-upload-button").addEventListener("click", () => this.q(".docs-file").click());
    this.q(".docs-file").addEventListener("change", (e) => this.uploadAll([...e.target.files]));
    this.refresh();
  }

  async refresh() {
    const page = await call("GET", "/api/documents?limit=500");
    this.documents = page.items;
    for (const id of [...this.selected]) {
      if (!this.documents.some((d) => d.id === id && d.status === "ready")) this.selected.delete(id);
    }
    this.render();
    if (this.documents.some((d) => d.status === "pending")) {
      clearTimeout(this.poll);
      this.poll = setTimeout(() => this.refresh(), 2000);
    }
  }

  render() {
    const list = this.q(".docs-list");
    list.replaceChildren(...this.documents.map((d) => this.row(d)));
    this.q(".docs-empty").hidden = this.documents.length > 0;
    this.q(".docs-picked").textContent = `${this.selected.size} selected: questions in this session ask them`;
    localStorage.setItem(PICKED, JSON.stringify([...this.selected]));
    this.root.dispatchEvent(new CustomEvent("documents:selection", { detail: { ids: [...this.selected] } }));
  }

  row(doc) {
    const box = el("input", { type: "checkbox", "aria-label": `use ${doc.title}` });
    box.checked = this.selected.has(doc.id);
    box.disabled = doc.status !== "ready";
    box.addEventListener("change", () => {
      if (box.checked) this.selected.add(doc.id); else this.selected.delete(doc.id);
      this.render();
    });
    const status = el("span", { class: `badge docs-status-${doc.status}` }, doc.status);
    if (doc.error) status.title = doc.error;
    const remove = el("button", { type: "button", class: "quiet", title: "delete" }, "×");
    remove.addEventListener("click", async () => {
      if (!confirm(`Delete ${doc.title}?`)) return;
      await call("DELETE", `/api/documents/${doc.id}`);
      this.selected.delete(doc.id);
      this.refresh();
    });
    const meta = doc.page_count ? `${doc.page_count} p · ` : "";
    return el("li", {}, box, el("span", { class: "docs-title" }, doc.title), status,
      el("span", { class: "muted" }, `${meta}${formatSize(doc.size)}`),
      doc.error ? el("span", { class: "error" }, doc.error) : "", remove);
  }

  async uploadAll(files) {
    for (const file of files) await this.uploadOne(file);
    this.q(".docs-file").value = "";
    this.refresh();
  }

  async uploadOne(file) {
    const bar = el("progress", { max: "1", value: "0" });
    const note = el("span", { class: "muted" }, "");
    const item = el("li", {}, `${file.name} `, bar, " ", note);
    this.q(".docs-progress").append(item);
    if (file.size > this.maxBytes) {
      note.className = "error";
      note.textContent = `larger than the ${formatSize(this.maxBytes)} limit`;
      return;
    }
    try {
      const doc = await uploadFile(file, (fraction) => { bar.value = fraction; });
      bar.value = 1;
      note.textContent = doc.status === "ready" ? "ready" : doc.status;
      if (doc.status === "ready") this.selected.add(doc.id);
      setTimeout(() => item.remove(), 3000);
    } catch (error) {
      note.className = "error";
      note.textContent = error.message;
    }
  }

  async open(citation) {
    const dialog = this.q(".docs-passage");
    const pre = this.q(".docs-passage-text");
    let chunk;
    try {
      chunk = await call("GET", `/api/documents/${citation.document_id}/chunks/${citation.chunk_id}`);
    } catch (error) {
      this.q(".docs-passage-where").textContent = citation.document_title || "document";
      pre.textContent = error.status === 404 ? "That document is no longer there." : error.message;
      dialog.showModal();
      return;
    }
    this.q(".docs-passage-where").textContent = `${citation.document_title} · ${chunk.page_or_section}`;
    const at = chunk.text.indexOf(citation.quote.replace(/…$/, ""));
    if (at >= 0) {
      const quoteLength = citation.quote.replace(/…$/, "").length;
      pre.replaceChildren(chunk.text.slice(0, at), el("mark", {}, chunk.text.slice(at, at + quoteLength)),
        chunk.text.slice(at + quoteLength));
    } else {
      pre.textContent = chunk.text;
    }
    dialog.showModal();
    pre.querySelector("mark")?.scrollIntoView({ block: "center" });
  }
}

const root = document.querySelector(".docs-panel");
const panel = root ? new DocumentsPanel(root) : null;

// --- questions from the chat composer ------------------------------------------------

const $ = (selector) => document.querySelector(selector);

// Under an answer: each cited passage's quote and where it is; a click shows it in place.
export function citationList(citations) {
  return el("ol", { class: "citations", "aria-label": "sources" }, ...citations.map((c) => el("li", {},
    el("button", { type: "button", class: "citation quiet", onclick: () => panel?.open(c) },
      `[${c.number ?? "·"}] ${c.document_title || `document ${c.document_id}`} · ${c.page_or_section}`),
    el("q", {}, c.quote))));
}

function conversationNode(role, label, ...children) {
  return el("article", { class: `msg ${role}` }, el("header", {}, el("span", { class: "role" }, label)), ...children);
}

function say(node) {
  $("#messages .empty")?.remove();
  $("#messages").append(node);
  $("#messages").scrollTop = $("#messages").scrollHeight;
}

function notice(text) {
  const box = el("div", { class: "msg notice" }, text);
  say(box);
  setTimeout(() => box.remove(), 6000);
}

let asking = false;

// A question of a documents session, from the main composer: saved with its answer.
export async function askDocuments(text) {
  const ids = panel ? [...panel.selected] : [];
  if (asking) return;
  if (!ids.length) {
    notice("Pick at least one ready document in the documents panel first.");
    return;
  }
  asking = true;
  $("#send").disabled = true;
  try {
    const session = await ensureSession();
    if (session) await answerInto(session, text, ids);
  } finally {
    asking = false;
    $("#send").disabled = false;
  }
}

async function answerInto(session, question, ids) {
  const body = el("div", { class: "body" });
  const stats = el("footer", { class: "stats" }, "");
  const answer = conversationNode("assistant streaming", session.model || "documents", body);
  say(conversationNode("user", "you", el("div", { class: "body" }, question)));
  say(answer);
  $("#input").value = "";
  const render = throttledRenderer(body);
  let raw = "";
  const payload = { question, document_ids: ids, session_id: session.id };
  if (session.model) payload.model = session.model;
  try {
    const response = await fetch("/api/documents/qa/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      credentials: "same-origin",
      body: JSON.stringify(payload),
    });
    if (!response.ok) {
      const data = await response.json().catch(() => ({}));
      throw new Error(data.detail || `HTTP ${response.status}`);
    }
    await readEvents(response, (name, data) => {
      if (name === "token") { raw += data.text; render(raw); }
      else if (name === "citations" && data.citations.length) answer.append(citationList(data.citations));
      else if (name === "usage") stats.textContent = `${data.prompt_tokens}+${data.completion_tokens} tok`;
      else if (name === "done") answer.dataset.id = data.message_id ?? "";
      else if (name === "error") answer.after(el("div", { class: "msg error-box", role: "alert" },
        el("b", {}, `✗ ${data.code || "error"}: `), data.message));
    });
  } catch (error) {
    answer.after(el("div", { class: "msg error-box", role: "alert" }, el("b", {}, "✗ error: "), error.message));
    if (!$("#input").value) $("#input").value = question;
  } finally {
    answer.classList.remove("streaming");
    renderInto(body, raw);
    answer.append(stats);
  }
  await refreshSession();
}
