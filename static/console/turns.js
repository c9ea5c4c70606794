// Sending and streaming on the chat page: a new question, a new version of any question
// (edit), another answer to any question (regenerate, retry, another model), and stop.
//
// Every turn streams into a provisional node and then shows the server's branch again
// (loadMessages): ids, versions ‹ 2/3 › and stored failures come from the one source.
// A stopped answer is cut on the server to what this page had painted.
import { call, streamChat } from "./api.js";
import { el } from "./dom.js";
import { renderInto, throttledRenderer } from "./markdown.js";
import { announce, dropFrom, lastShown, loadMessages, messageNode, scrollDown, showEnd, statsLine } from "./conversation.js";
import { askDocuments } from "./documents.js";
import { ensureSession } from "./sessions.js";

const $ = (selector) => document.querySelector(selector);
const CONTINUE = "Continue from where you stopped.";
const SAVE_TRIES = 10; // the server saves a stopped answer as the connection closes

// { state, notice, renderTotal(), loadSessions(), clearComposer(keepText),
//   renderAttachments(), sendPlayground(content, images) }
let ctx = null;

export function setupTurns(context) {
  ctx = context;
  $("#input").addEventListener("keydown", (e) => {
    if (e.key === "Escape" && ctx.state.editing) cancelEdit();
  });
}

export function setBusy(busy) {
  $("#send").disabled = busy;
  $("#stop").hidden = !busy;
}

export function errorNode(data) {
  return el(
    "div",
    { class: "msg error-box", role: "alert" },
    el("b", {}, `✗ ${data.code || "error"}: `),
    data.message || "the request failed",
  );
}

export function pendingAnswer(model) {
  return el(
    "article",
    { class: "msg assistant" },
    el("header", {}, el("span", { class: "role" }, model || "assistant")),
    el("div", { class: "body" }, ""),
  );
}

// One streamed answer into `node`; resolves with how it ended and what it said.
export async function streamInto(node, body) {
  const state = ctx.state;
  const controller = new AbortController();
  state.controllers.push(controller);
  const answer = node.querySelector(".body");
  const render = throttledRenderer(answer);
  const result = { outcome: "stopped", text: "", model: body.model || state.session.model, messageId: null };
  node.classList.add("streaming");
  try {
    await streamChat(body, (name, data) => onEvent(node, render, result, name, data), controller.signal);
  } catch (error) {
    if (error.name !== "AbortError") {
      result.outcome = "error";
      node.append(errorNode({ code: "network", message: error.message }));
    }
  } finally {
    node.classList.remove("streaming");
    renderInto(answer, result.text);
    if (result.outcome === "stopped") {
      node.classList.add("stopped");
      node.append(el("footer", { class: "stats" }, "⏹ stopped"));
      if (result.messageId) await keepWhatWasShown(result.messageId, result.text);
    }
  }
  return result;
}

function onEvent(node, render, result, name, data) {
  const state = ctx.state;
  if (name === "start") {
    result.messageId = data.message_id;
    node.dataset.id = data.message_id;
  } else if (name === "token") {
    result.text += data.text;
    render(result.text);
    if (!state.userScrolled) scrollDown();
  } else if (name === "usage") {
    node.querySelector(".stats")?.remove();
    node.append(statsLine({ ...data, status: "complete" }));
    state.session.total_tokens += data.prompt_tokens + data.completion_tokens;
    state.session.total_cost_usd += data.cost_usd;
    ctx.renderTotal();
    if (data.model) {
      node.querySelector(".role").textContent = data.model;
      result.model = data.model;
    }
  } else if (name === "done") {
    result.outcome = "done";
  } else if (name === "error") {
    result.outcome = "error";
    node.classList.add("error");
    node.append(errorNode(data));
  }
}

// "The stored text of a stopped answer is what the user saw": the server produced more
// than was painted, so it is told what was shown (a prefix; it refuses anything else).
async function keepWhatWasShown(messageId, shown) {
  for (let attempt = 0; attempt < SAVE_TRIES; attempt++) {
    try {
      await call("PATCH", `/api/messages/${messageId}`, { content: shown, stopped: true });
      return;
    } catch (error) {
      if (error.status !== 409) return; // finished after all, or deleted: nothing to cut
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

function nodeOf(messageId) {
  return document.querySelector(`#messages .msg[data-id="${messageId}"]`);
}

// --- the composer --------------------------------------------------------------------

export async function send(event) {
  event?.preventDefault();
  const state = ctx.state;
  if (!state.session || state.loading || state.controllers.length) return;
  const content = $("#input").value;
  const images = state.attachments.map((a) => a.url);
  if (!content.trim() && !images.length) return;
  if (state.session.session_type === "documents") return askDocuments(content);
  if (state.session.session_type === "playground") return ctx.sendPlayground(content, images);
  if (!state.session.model) {
    ctx.notice("Choose a model first (model: choose…).");
    return;
  }
  if (!(await ensureSession())) return;
  const plan = state.editing ? editPlan(state.editing, content, images) : await newTurnPlan(content, images);
  if (plan.from) dropFrom(plan.from);
  if (plan.clear) $("#messages").replaceChildren();
  const answerNode = pendingAnswer(state.session.model);
  if (plan.question) $("#messages").append(messageNode({ role: "user", content, images }));
  $("#messages").append(answerNode);
  ctx.clearComposer(false);
  scrollDown();
  await runTurn(answerNode, plan.body, { content, images });
}

function editPlan(editing, content, images) {
  const node = nodeOf(editing.id);
  const body = { session_id: ctx.state.session.id, content, images, edit_of: editing.id };
  return { body, from: node, clear: !node, question: true };
}

// A new question at the branch's end. After a failed answer it does not go under the
// failure (the model would get two questions in a row): the same text retries the failed
// question, other text becomes a new version of it (the server applies the same rule).
async function newTurnPlan(content, images) {
  await showEnd();
  const body = { session_id: ctx.state.session.id, content, images };
  const last = lastShown();
  const failed = last?.message?.status === "error" ? last.message : null;
  const question = failed && nodeOf(failed.parent_id);
  if (!question) return { body, question: true };
  const same = question.message.content === content && !images.length;
  if (same) return { body: { session_id: body.session_id, answer_of: failed.parent_id }, from: last, question: false };
  return { body: { ...body, edit_of: failed.parent_id }, from: question, question: true };
}

// The input is cleared once sent and given back when the turn failed, so nothing typed
// is ever lost.
async function runTurn(answerNode, body, typed) {
  const state = ctx.state;
  setBusy(true);
  const result = await streamInto(answerNode, body);
  state.controllers = [];
  setBusy(false);
  state.editing = null;
  $("#composer").classList.remove("editing");
  $("#send").textContent = result.outcome === "error" ? "retry ⏎" : "send ⏎";
  if (result.outcome === "error" && typed && !$("#input").value) {
    $("#input").value = typed.content;
    state.attachments = typed.images.map((url) => ({ url }));
    ctx.renderAttachments();
  }
  await loadMessages();
  if (result.outcome === "done") announce(result.model, result.text);
  refreshSessionMeta();
}

// ✎ on any question: the composer takes its text; sending adds a new version of it.
export function edit(message) {
  const state = ctx.state;
  if (state.controllers.length) return;
  state.editing = { id: message.id };
  $("#input").value = message.content;
  $("#input").focus();
  $("#composer").classList.add("editing");
  $("#send").textContent = "resend ⏎";
}

function cancelEdit() {
  ctx.state.editing = null;
  $("#input").value = "";
  $("#composer").classList.remove("editing");
  $("#send").textContent = "send ⏎";
}

// ↻ on any answer: another answer to its question (a sibling), optionally from another
// model for this one answer (the session keeps its model).
export async function regenerate(message, model) {
  const state = ctx.state;
  if (state.controllers.length || !message.parent_id) return;
  const node = nodeOf(message.id);
  if (node) dropFrom(node);
  const answerNode = pendingAnswer(model || state.session.model);
  $("#messages").append(answerNode);
  scrollDown();
  const body = { session_id: state.session.id, answer_of: message.parent_id, content: "" };
  if (model) body.model = model;
  await runTurn(answerNode, body, null);
}

// The failed answer's retry button: the same question answered again, no new question.
export function retry(message) {
  return regenerate(message);
}

// ▸ on a stopped answer: a new question asking the model to go on from what was shown.
// Only at the branch's end; an earlier stopped answer is answered again instead.
export async function continueAnswer(message) {
  const state = ctx.state;
  if (state.controllers.length) return;
  if (lastShown()?.message?.id !== message.id) return regenerate(message);
  $("#input").value = CONTINUE;
  await send();
}

export async function refreshSessionMeta() {
  const state = ctx.state;
  const fresh = await call("GET", `/api/sessions/${state.session.id}`);
  state.session = fresh;
  ctx.renderTotal();
  $("#title").textContent = fresh.title;
  await ctx.loadSessions();
}

export function stop() {
  for (const controller of ctx.state.controllers) controller.abort();
}
