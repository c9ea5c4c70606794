// The playground: one prompt, up to three models, one column per model. Each column is a
// conversation of its own (the prompts and that model's answers) and scrolls on its own,
// so a long answer in one column never pushes the others away.
import { renderInto } from "./markdown.js";
import { modelMeta, shortMeta } from "./picker.js";

const HISTORY = 500; // the API's largest page: a playground rarely holds more
const STICK = 80; // px from the bottom within which a column follows a streaming answer

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function money(value) {
  if (!value) return "$0";
  return value < 0.01 ? `$${value.toFixed(6)}` : `$${value.toFixed(4)}`;
}

function statsText(message) {
  const parts = [];
  if (message.status === "stopped") parts.push("⏹ stopped");
  if (message.status === "error") parts.push(`⚠ ${message.error || "failed"}`);
  if (message.prompt_tokens || message.completion_tokens)
    parts.push(`${message.prompt_tokens}+${message.completion_tokens} tok`, money(message.cost_usd));
  if (message.ttft_ms != null) parts.push(`ttft ${message.ttft_ms} ms`);
  if (message.latency_ms != null) parts.push(`${(message.latency_ms / 1000).toFixed(2)} s`);
  return parts.join(" · ");
}

// The shape chat.js's streamInto fills: a .role to rename, a .body to stream into.
export function answerNode(model, message = null) {
  const node = el("article", `msg assistant ${message?.status || ""}`.trim());
  const header = el("header");
  header.append(el("span", "role", message?.model || model));
  const body = el("div", "body");
  node.append(header, body);
  if (message) {
    node.dataset.id = message.id;
    renderInto(body, message.content);
    node.append(el("footer", "stats", statsText(message)));
  }
  return node;
}

function promptNode(message) {
  const node = el("article", "msg user");
  const header = el("header");
  header.append(el("span", "role", "you"));
  const body = el("div", "body");
  renderInto(body, message.content);
  node.append(header, body);
  return node;
}

// Turns in order: each user prompt with the answers to it.
function turnsOf(messages) {
  const turns = [];
  for (const message of messages) {
    if (message.role === "user") turns.push({ prompt: message, answers: [] });
    else if (message.role === "assistant" && turns.length) turns[turns.length - 1].answers.push(message);
  }
  return turns;
}

// An answer names the upstream model that gave it ("echo" from provider "fake"), not the
// name asked for ("fake/echo", or a route): match those that say it, and give the others
// to the columns left, in order.
function answersByColumn(turn, models) {
  const named = (answer, id) => answer.model === id || `${answer.provider}/${answer.model}` === id;
  const left = [...turn.answers];
  const byColumn = models.map((id) => {
    const index = id ? left.findIndex((answer) => named(answer, id)) : -1;
    return index >= 0 ? left.splice(index, 1)[0] : null;
  });
  return byColumn.map((answer, slot) => answer || (models[slot] && left.length ? left.shift() : null));
}

function nearBottom(box) {
  return box.scrollHeight - box.scrollTop - box.clientHeight < STICK;
}

// `root` is #playground-models: three .pg-column sections, each with a select[data-slot]
// and a .pg-answers box. `call` is api.js's; `onChange(models)` saves a new choice.
export function createPlayground(root, { call, onChange }) {
  const columns = [...root.querySelectorAll(".pg-column")].map((section) => ({
    section,
    select: section.querySelector("select"),
    meta: section.querySelector(".pg-meta"),
    answers: section.querySelector(".pg-answers"),
  }));
  let catalog = [];
  let turns = [];
  let sessionId = null;

  function fillSelects(chosen) {
    for (const [slot, column] of columns.entries()) {
      const options = [new Option("—", "")];
      for (const model of catalog) options.push(new Option(`${model.id} · ${shortMeta(model)}`, model.id));
      column.select.replaceChildren(...options);
      column.select.value = chosen[slot] || "";
    }
  }

  function renderColumn(column, slot) {
    const model = column.select.value;
    const slots = columns.map((c) => c.select.value);
    const entry = catalog.find((m) => m.id === model);
    column.meta.textContent = entry ? modelMeta(entry) : "";
    column.section.classList.toggle("unused", !model);
    column.section.setAttribute("aria-label", model ? `answers of ${model}` : "an unused column");
    const nodes = [];
    for (const turn of model ? turns : []) {
      nodes.push(promptNode(turn.prompt));
      const answer = answersByColumn(turn, slots)[slot];
      nodes.push(answer ? answerNode(model, answer) : el("p", "empty", `${model} was not asked this one`));
    }
    if (!nodes.length) nodes.push(el("p", "empty", model ? "> one prompt, every column answers_" : "pick a model to compare (optional)"));
    column.answers.replaceChildren(...nodes);
    column.answers.scrollTop = column.answers.scrollHeight;
  }

  function followWhileGrowing(column, node) {
    const box = column.answers;
    const watcher = new ResizeObserver(() => {
      if (!node.isConnected) watcher.disconnect();
      else if (nearBottom(box)) box.scrollTop = box.scrollHeight;
    });
    watcher.observe(node);
  }

  // Whether the turns came in for the session still open (not one left meanwhile).
  async function loadTurns() {
    const asked = sessionId;
    const page = await call("GET", `/api/sessions/${asked}/messages?limit=${HISTORY}&newest=true`);
    if (asked !== sessionId) return false;
    turns = turnsOf(page.items);
    return true;
  }

  for (const [slot, column] of columns.entries()) {
    column.select.addEventListener("change", () => {
      renderColumn(column, slot);
      onChange(chosen());
    });
  }

  function notice(text) {
    const column = columns[0];
    const box = el("p", "msg notice", text);
    column.answers.append(box);
    column.answers.scrollTop = column.answers.scrollHeight;
    setTimeout(() => box.remove(), 6000);
  }

  function chosen() {
    return columns.map((c) => c.select.value).filter(Boolean);
  }

  return {
    setModels(models) {
      catalog = models;
    },
    chosen,
    async open(session) {
      sessionId = session.id;
      fillSelects(session.overrides?.models || [session.model].filter(Boolean));
      turns = [];
      columns.forEach(renderColumn);
      try {
        if (await loadTurns()) columns.forEach(renderColumn);
      } catch (error) {
        notice(`the answers could not load: ${error.message}`);
      }
    },
    // The prompt goes into every used column; answers stream into the nodes returned.
    beginTurn(prompt) {
      const started = [];
      for (const column of columns) {
        const model = column.select.value;
        if (!model) continue;
        column.answers.querySelector(":scope > .empty:only-child")?.remove();
        const node = answerNode(model);
        column.answers.append(promptNode(prompt), node);
        column.answers.scrollTop = column.answers.scrollHeight;
        followWhileGrowing(column, node);
        started.push({ model, node });
      }
      return started;
    },
    // After a turn: what the server kept, so a column switched later shows it too.
    async endTurn() {
      await loadTurns();
    },
    notice,
  };
}
