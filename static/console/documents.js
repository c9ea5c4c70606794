// The documents panel: upload with progress, status polling, pick documents, ask with a
// streamed answer whose [n] citations open the quoted passage. Talks to /api/documents only.

import { call, readEvents } from "./api.js";

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

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
    this.selected = new Set();
    this.documents = [];
    this.citations = [];
    this.q = (selector) => root.querySelector(selector);
    this.q(".docs-upload-button").addEventListener("click", () => this.q(".docs-file").click());
    this.q(".docs-file").addEventListener("change", (e) => this.uploadAll([...e.target.files]));
    this.q(".docs-ask").addEventListener("submit", (e) => { e.preventDefault(); this.ask(); });
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
    this.q(".docs-picked").textContent = `${this.selected.size} selected`;
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

  async ask() {
    const textarea = this.q(".docs-ask textarea");
    const question = textarea.value.trim();
    if (!question) return;
    const answer = this.q(".docs-answer");
    const text = this.q(".docs-answer-text");
    const list = this.q(".docs-citations");
    answer.hidden = false;
    list.replaceChildren();
    if (this.selected.size === 0) {
      text.textContent = "Select at least one ready document first.";
      return;
    }
    text.textContent = "";
    const button = this.q(".docs-ask button[type=submit]");
    button.disabled = true;
    let raw = "";
    try {
      const response = await fetch("/api/documents/qa/stream", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        credentials: "same-origin",
        body: JSON.stringify({ question, document_ids: [...this.selected] }),
      });
      if (!response.ok) {
        const data = await response.json().catch(() => ({}));
        throw new Error(data.detail || `HTTP ${response.status}`);
      }
      await readEvents(response, (name, data) => {
        if (name === "token") { raw += data.text; text.textContent = raw; }
        else if (name === "citations") this.showAnswer(raw, data.citations);
        else if (name === "error") text.append(el("p", { class: "error" }, data.message));
      });
    } catch (error) {
      text.append(el("p", { class: "error" }, error.message));
    } finally {
      button.disabled = false;
    }
  }

  // Replace [n] markers with links that open the cited passage.
  showAnswer(raw, citations) {
    this.citations = citations;
    const byNumber = new Map(citations.map((c) => [c.number, c]));
    const text = this.q(".docs-answer-text");
    text.replaceChildren();
    let last = 0;
    for (const match of raw.matchAll(/\[(\d+)\]/g)) {
      text.append(raw.slice(last, match.index));
      const citation = byNumber.get(Number(match[1]));
      text.append(citation ? this.link(`[${match[1]}]`, citation) : match[0]);
      last = match.index + match[0].length;
    }
    text.append(raw.slice(last));
    this.q(".docs-citations").replaceChildren(...citations.map((c) => el("li", {},
      this.link(`[${c.number}] ${c.document_title}, ${c.page_or_section}`, c), ` — “${c.quote}”`)));
  }

  link(label, citation) {
    return el("a", { href: "#", onclick: (e) => { e.preventDefault(); this.open(citation); } }, label);
  }

  async open(citation) {
    const chunk = await call("GET", `/api/documents/${citation.document_id}/chunks/${citation.chunk_id}`);
    const dialog = this.q(".docs-passage");
    this.q(".docs-passage-where").textContent = `${citation.document_title} · ${chunk.page_or_section}`;
    const pre = this.q(".docs-passage-text");
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

for (const root of document.querySelectorAll(".docs-panel")) new DocumentsPanel(root);
