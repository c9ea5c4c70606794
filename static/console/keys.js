// The keys page: a user's own gateway keys over /api/keys — create (the secret shown once,
// with a copy button and ready-made snippets), rename, revoke, and what each has spent.
import { call } from "./api.js";

const $ = (selector) => document.querySelector(selector);
const section = $("#keys");
const me = Number(section.dataset.user);
const maxKeys = Number(section.dataset.maxKeys);
const model = section.dataset.model;
let secret = "";
let snippet = "curl";

const money = (v) => `$${Number(v || 0).toFixed(v && v < 1 ? 4 : 2)}`;
const when = (v) => (v ? new Date(v).toLocaleString() : "never");

function snippets(key) {
  const origin = window.location.origin;
  const body = JSON.stringify({ model, messages: [{ role: "user", content: "Hello" }] });
  return {
    curl: [
      `curl ${origin}/v1/chat/completions \\`,
      `  -H "Authorization: Bearer ${key}" \\`,
      `  -H "Content-Type: application/json" \\`,
      `  -d '${body}'`,
    ].join("\n"),
    openai: [
      "from openai import OpenAI",
      "",
      `client = OpenAI(base_url="${origin}/v1", api_key="${key}")`,
      "reply = client.chat.completions.create(",
      `    model="${model}", messages=[{"role": "user", "content": "Hello"}]`,
      ")",
      "print(reply.choices[0].message.content)",
    ].join("\n"),
    claude: [
      `export ANTHROPIC_BASE_URL=${origin}`,
      `export ANTHROPIC_AUTH_TOKEN=${key}`,
      "claude",
    ].join("\n"),
  };
}

function showSnippet() {
  $("#snippet").textContent = snippets(secret)[snippet];
  for (const b of document.querySelectorAll("[data-snippet]")) {
    b.setAttribute("aria-pressed", String(b.dataset.snippet === snippet));
  }
}

function showCreated(key) {
  secret = key;
  $("#secret").textContent = key;
  $("#copied").textContent = "";
  showSnippet();
  $("#created").hidden = false;
}

function hideCreated() {
  secret = "";
  $("#secret").textContent = "";
  $("#snippet").textContent = "";
  $("#created").hidden = true;
}

async function copy(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain http on another host: no Clipboard API, so copy a selection instead.
  const area = document.createElement("textarea");
  area.value = text;
  document.body.append(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

function cell(row, content, className) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  if (className) td.className = className;
  return td;
}

function nameInput(key) {
  const input = document.createElement("input");
  input.value = key.name;
  input.maxLength = 100;
  input.setAttribute("aria-label", "key name");
  input.addEventListener("change", async () => {
    try {
      await call("PATCH", `/api/keys/${key.id}`, { name: input.value });
      $("#key-error").textContent = "";
    } catch (error) {
      $("#key-error").textContent = error.message;
      input.value = key.name;
    }
  });
  return input;
}

function revokeButton(key) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "danger";
  button.textContent = "revoke";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await call("PATCH", `/api/keys/${key.id}`, { is_active: false });
      await load();
    } catch (error) {
      $("#key-error").textContent = error.message;
      button.disabled = false;
    }
  });
  return button;
}

async function load() {
  // Operators get every key from /api/keys; this page is about one's own.
  const keys = (await call("GET", "/api/keys")).filter((key) => key.owner_id === me);
  const table = $("#key-table");
  table.innerHTML = `<thead><tr><th>name</th><th>key</th><th>created</th><th>last used</th><th class="num">requests</th><th class="num">spent</th><th></th></tr></thead>`;
  const body = document.createElement("tbody");
  for (const key of keys) {
    const row = body.insertRow();
    row.dataset.key = key.id;
    row.dataset.active = String(key.is_active);
    cell(row, key.is_active ? nameInput(key) : key.name);
    cell(row, `${key.prefix}…`);
    cell(row, when(key.created_at));
    cell(row, when(key.last_used_at));
    cell(row, Number(key.requests).toLocaleString(), "num");
    cell(row, money(key.spent_usd), "num");
    cell(row, key.is_active ? revokeButton(key) : "revoked");
  }
  if (!keys.length) body.insertRow().insertCell().textContent = "no keys yet";
  table.append(body);
  const active = keys.filter((key) => key.is_active).length;
  $("#key-cap").textContent = `${active} of ${maxKeys} active keys`;
  $("#create-key").disabled = active >= maxKeys;
}

$("#new-key").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = $("#create-key");
  button.disabled = true;
  $("#key-error").textContent = "";
  try {
    const created = await call("POST", "/api/keys", { name: $("#key-name").value, owner_id: me });
    $("#key-name").value = "";
    showCreated(created.key);
  } catch (error) {
    $("#key-error").textContent = error.message;
  }
  await load();
});

$("#copy").addEventListener("click", async () => {
  try {
    await copy(secret);
    $("#copied").textContent = "copied";
  } catch (error) {
    $("#copied").textContent = `could not copy: ${error.message}`;
  }
});
for (const button of document.querySelectorAll("[data-snippet]")) {
  button.addEventListener("click", () => {
    snippet = button.dataset.snippet;
    showSnippet();
  });
}
$("#hide-created").addEventListener("click", hideCreated);

load()
  .then(() => document.body.setAttribute("data-ready", ""))
  .catch((error) => {
    $("#key-error").textContent = `keys unavailable: ${error.message}`;
  });
