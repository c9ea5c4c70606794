// The usage page: totals, per-day charts, breakdowns and CSV export over /api/usage.
import { call } from "./api.js";
import { barChart } from "./charts.js";

const $ = (selector) => document.querySelector(selector);
let group = "model";

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function range() {
  const params = new URLSearchParams();
  if ($("#since").value) params.set("since", $("#since").value);
  // The whole chosen day, spelled out: an explicit end of day means the same to any parser.
  if ($("#until").value) params.set("until", `${$("#until").value}T23:59:59.999`);
  return params;
}

function setDays(days) {
  const now = new Date();
  $("#since").value = isoDay(new Date(now.getTime() - (days - 1) * 86400000));
  $("#until").value = isoDay(now);
}

const money = (v) => `$${Number(v || 0).toFixed(v && v < 1 ? 4 : 2)}`;
const count = (v) => Number(v || 0).toLocaleString();

function card(label, value) {
  const box = document.createElement("div");
  box.className = "card";
  box.innerHTML = `<b></b><span></span>`;
  box.querySelector("b").textContent = value;
  box.querySelector("span").textContent = label;
  return box;
}

// Every day of the range, also the empty ones, so the chart's x axis is honest.
function days(groups) {
  const byDay = new Map(groups.map((g) => [String(g.key).slice(0, 10), g]));
  const since = $("#since").value || [...byDay.keys()].sort()[0];
  const until = $("#until").value || isoDay(new Date());
  const out = [];
  if (!since) return out;
  for (let d = new Date(`${since}T00:00:00Z`); isoDay(d) <= until && out.length < 400; d = new Date(d.getTime() + 86400000)) {
    const g = byDay.get(isoDay(d)) || {};
    out.push({ label: isoDay(d), cost: Number(g.cost_usd || 0), tokens: Number(g.total_tokens || 0) });
  }
  return out;
}

async function loadDays() {
  const params = range();
  params.set("group_by", "day");
  const data = await call("GET", `/api/usage/summary?${params}`);
  const t = data.total;
  $("#totals").replaceChildren(
    card("LLM calls", count(t.requests)),
    card("cost", money(t.cost_usd)),
    card("prompt tokens", count(t.prompt_tokens)),
    card("completion tokens", count(t.completion_tokens)),
  );
  const points = days(data.groups);
  barChart($("#cost-chart"), points.map((p) => ({ label: p.label, value: p.cost })), { format: money });
  barChart($("#tokens-chart"), points.map((p) => ({ label: p.label, value: p.tokens })), { format: count, alt: true });
}

async function loadBreakdown() {
  const params = range();
  params.set("group_by", group);
  const data = await call("GET", `/api/usage/summary?${params}`);
  const table = $("#breakdown");
  const headings = [group, "LLM calls", "prompt", "completion", "cost"];
  table.innerHTML = "<thead><tr></tr></thead>";
  headings.forEach((heading, index) => {
    const th = document.createElement("th");
    th.textContent = heading;
    if (index) th.className = "num";
    table.tHead.rows[0].append(th);
  });
  const body = document.createElement("tbody");
  const groups = [...data.groups].sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests);
  for (const g of groups) {
    const row = body.insertRow();
    const cells = [g.key || "—", count(g.requests), count(g.prompt_tokens), count(g.completion_tokens), money(g.cost_usd)];
    cells.forEach((value, index) => {
      const cell = row.insertCell();
      cell.textContent = value;
      if (index) {
        cell.className = "num";
        cell.dataset.label = headings[index]; // shown beside the value on a phone (pages.css)
      }
    });
  }
  if (!data.groups.length) body.insertRow().insertCell().textContent = "no LLM calls in this range";
  table.append(body);
}

// The caller's own quota: what is left this period and when it resets.
async function loadQuota() {
  const quota = await call("GET", "/api/users/me/quota");
  const parts = [];
  if (quota.budget_usd !== null) {
    parts.push(
      `${money(quota.remaining_usd)} left of ${money(quota.budget_usd)} this ${quota.period} ` +
        `(${money(quota.spent_usd)} spent); resets ${new Date(quota.resets_at).toLocaleString()}`,
    );
  }
  if (quota.rpm_limit !== null) parts.push(`at most ${quota.rpm_limit} requests per minute`);
  $("#quota").hidden = !parts.length;
  $("#quota-text").textContent = parts.join(" · ");
}

function refresh() {
  const params = range();
  params.set("format", "csv");
  params.set("limit", "500");
  $("#csv").href = `/api/usage?${params}`;
  return Promise.all([loadDays(), loadBreakdown()]);
}

for (const button of document.querySelectorAll("[data-days]")) {
  button.addEventListener("click", () => {
    setDays(Number(button.dataset.days));
    refresh();
  });
}
for (const button of document.querySelectorAll("[data-group]")) {
  button.addEventListener("click", () => {
    group = button.dataset.group;
    for (const b of document.querySelectorAll("[data-group]")) b.setAttribute("aria-pressed", String(b === button));
    loadBreakdown();
  });
}
$("#since").addEventListener("change", refresh);
$("#until").addEventListener("change", refresh);
setDays(7);
loadQuota().catch((error) => {
  $("#quota").hidden = false;
  $("#quota-text").textContent = `quota unavailable: ${error.message}`;
});
refresh().catch((error) => {
  $("#totals").textContent = `usage unavailable: ${error.message}`;
});
