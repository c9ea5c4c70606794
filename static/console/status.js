// The status page: provider rows update live over /ws/status/; stats and errors by polling.
import { call } from "./api.js";

const $ = (selector) => document.querySelector(selector);

function setLive(on) {
  $("#live").textContent = on ? "● live" : "○ reconnecting…";
  $("#live").classList.toggle("on", on);
}

function applyHealth(provider) {
  const row = document.querySelector(`tr[data-provider="${provider.id}"]`);
  if (!row) return; // a provider added after the page loaded shows on the next reload
  row.dataset.healthy = String(provider.is_healthy);
  row.querySelector(".p-status").textContent = provider.status + (provider.is_healthy ? "" : " · unhealthy");
  row.querySelector(".p-latency").textContent = provider.latency_ms == null ? "—" : `${provider.latency_ms} ms`;
  const checked = row.querySelector(".p-checked");
  checked.textContent = provider.last_tested_at ? new Date(provider.last_tested_at).toLocaleString() : "never";
  row.classList.remove("flash");
  void row.offsetWidth; // restart the highlight animation
  row.classList.add("flash");
}

function connect(delay = 1000) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/ws/status/`);
  socket.addEventListener("open", () => setLive(true));
  socket.addEventListener("message", (event) => {
    const data = JSON.parse(event.data);
    if (data.type === "provider.health") applyHealth(data.provider);
  });
  socket.addEventListener("close", () => {
    setLive(false);
    setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
  });
}

function card(label, value) {
  const box = document.createElement("div");
  box.className = "card";
  const b = document.createElement("b");
  b.textContent = value;
  const span = document.createElement("span");
  span.textContent = label;
  box.append(b, span);
  return box;
}

// The counters start with the first request counted (console/stats.py).
function countedSince(s) {
  return s.started_at ? `, since ${new Date(s.started_at).toLocaleString()}` : "";
}

async function loadStats() {
  try {
    const s = await call("GET", "/api/admin/stats");
    $("#stats").replaceChildren(
      card("HTTP requests", s.requests ?? "—"),
      card("answered ≥ 400", s.errors ?? "—"),
      card("error rate", s.error_rate != null ? `${(s.error_rate * 100).toFixed(1)}%` : "—"),
      card("avg response time", s.avg_duration_ms != null ? `${s.avg_duration_ms} ms` : "—"),
      card("counting for", s.uptime_seconds != null ? `${Math.round(s.uptime_seconds / 60)} min` : "—"),
    );
    $("#stats-since").textContent = countedSince(s);
  } catch (error) {
    $("#stats").textContent = `stats unavailable (${error.message})`;
  }
}

async function loadErrors() {
  const table = $("#errors");
  try {
    const page = await call("GET", "/api/usage?status=error&limit=10");
    table.innerHTML = "<thead><tr><th>when</th><th>model</th><th>provider</th><th>code</th></tr></thead>";
    const body = document.createElement("tbody");
    for (const e of page.items) {
      const row = body.insertRow();
      for (const value of [new Date(e.created_at).toLocaleString(), e.model || e.requested_model || "—", e.provider || "—", e.error_code || "—"]) {
        row.insertCell().textContent = value;
      }
    }
    if (!page.items.length) body.insertRow().insertCell().textContent = "no errors recently";
    table.append(body);
  } catch (error) {
    table.textContent = `errors unavailable (${error.message})`;
  }
}

connect();
loadStats();
loadErrors();
setInterval(() => {
  loadStats();
  loadErrors();
}, 15000);
