"use strict";
// The heapprof web UI: the controls, the tabs, the top table and peek. The other
// views live in graphs.js, source.js and timeline.js. Everything comes from this
// server's /api/* and *.svg routes; no other origin is contacted.
const $ = (id) => document.getElementById(id);
const TABS = ["top", "flame", "graph", "peek", "source", "timeline"];
let rows = [];
let sortKey = "flat";
let unit = "";

// The query every view shares: profile, sample index and filters.
function params() {
  const p = new URLSearchParams();
  for (const key of ["profile", "si", "focus", "ignore"]) {
    const v = $(key).value.trim();
    if (v) p.set(key === "profile" ? "p" : key, v);
  }
  return p.toString();
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

async function fetchOk(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error((await r.text()).trim() || r.statusText);
  return r;
}

function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  select.appendChild(o);
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

// Values as pprof prints them: bytes scaled to kB/MB/GB (powers of 1024),
// counts as integers.
function fmtIn(v, u) {
  if (u === "bytes") {
    const units = ["B", "kB", "MB", "GB", "TB"];
    let x = Math.abs(v), i = 0;
    while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
    const s = (i === 0 ? String(x) : x.toFixed(2)) + units[i];
    return v < 0 ? "-" + s : s;
  }
  return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(2);
}

function fmt(v) {
  return fmtIn(v, unit);
}

function escapeRegex(name) {
  return "^" + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "$";
}

function link(text, onClick) {
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = text;
  a.addEventListener("click", (ev) => { ev.preventDefault(); onClick(); });
  return a;
}

function renderTable() {
  const desc = sortKey !== "name";
  const abs = (x) => (typeof x === "number" ? Math.abs(x) : x);
  const sorted = rows.slice().sort((a, b) => {
    const x = abs(a[sortKey]), y = abs(b[sortKey]);
    return x < y ? (desc ? 1 : -1) : x > y ? (desc ? -1 : 1) : 0;
  });
  const body = document.querySelector("#top-table tbody");
  body.replaceChildren();
  const withBase = document.body.dataset.base === "true";
  for (const r of sorted) {
    const tr = document.createElement("tr");
    for (const key of ["flat", "flat_percent", "sum_percent", "cum", "cum_percent"]) {
      const v = r[key];
      const td = cell(tr, key.endsWith("percent") ? v.toFixed(2) + "%" : fmt(v));
      // With a base the values are changes: growth red, shrinkage blue.
      if (key === "flat" && v > 0 && withBase) td.className = "grew";
      if (key === "flat" && v < 0) td.className = "shrank";
    }
    const name = cell(tr, r.name + (r.inline === "call" ? "" : ` (${r.inline})`), "name");
    name.addEventListener("click", () => peekAt(r.name));
    const actions = cell(tr, "", "actions");
    actions.append(link("peek", () => peekAt(r.name)), " ", link("source", () => listAt(r.name)));
    body.appendChild(tr);
  }
  for (const th of document.querySelectorAll("#top-table th")) {
    th.classList.toggle("sorted", th.dataset.key === sortKey);
  }
}

async function loadTop(q) {
  const top = await (await fetchOk("/api/top?" + q)).json();
  rows = top.rows;
  unit = top.header.sample_unit;
  $("legend").textContent = `Type: ${top.header.sample_type}\n` + top.legend.join("\n");
  renderTable();
}

// Each view is computed when it is shown, once per query: a large profile's
// call graph is not drawn for someone reading the top table.
// (Arrows: graphs.js, source.js and timeline.js load after this file.)
const loaders = {
  top: (q) => loadTop(q),
  flame: (q) => loadFlame(q),
  graph: (q) => loadGraph(q),
  peek: () => peek(),
  source: () => list(),
  timeline: () => loadTimeline(),
};
let shownQuery = {};

function currentTab() {
  const wanted = location.hash.slice(1);
  return TABS.includes(wanted) && !$("tab-" + wanted).hidden ? wanted : "top";
}

async function refreshView(tab) {
  const q = params();
  // Peek and Source also depend on their own field: always recomputed.
  if (shownQuery[tab] === q && tab !== "peek" && tab !== "source") return;
  shownQuery[tab] = q;
  try {
    await loaders[tab](q);
  } catch (e) {
    delete shownQuery[tab];
    showError(e.message);
  }
}

// The controls changed: every view is stale; the one shown is recomputed.
async function load() {
  showError("");
  shownQuery = {};
  await refreshView(currentTab());
}

async function showTab() {
  const tab = currentTab();
  for (const id of TABS) {
    $(id).hidden = id !== tab;
    $("tab-" + id).classList.toggle("current", id === tab);
  }
  await refreshView(tab);
}

async function peek() {
  showError("");
  const re = $("peek-re").value.trim();
  if (!re) return;
  const body = document.querySelector("#peek-table tbody");
  body.replaceChildren();
  try {
    const p = await (await fetchOk("/api/peek?" + params() + "&re=" + encodeURIComponent(re))).json();
    const edge = (c, cls) => {
      const tr = document.createElement("tr");
      tr.className = cls;
      cell(tr, fmt(c.weight));
      cell(tr, c.percent.toFixed(2) + "%");
      cell(tr, "  " + c.name, "name");
      body.appendChild(tr);
    };
    for (const e of p.entries) {
      for (const c of e.callers) edge(c, "caller");
      const tr = document.createElement("tr");
      tr.className = "entry";
      cell(tr, fmt(e.flat));
      cell(tr, fmt(e.cum));
      cell(tr, "| " + e.name, "name");
      body.appendChild(tr);
      for (const c of e.callees) edge(c, "callee");
    }
  } catch (e) {
    showError(e.message);
  }
}

function peekAt(name) {
  $("peek-re").value = escapeRegex(name);
  if (location.hash === "#peek") peek();
  else location.hash = "#peek";
}

async function init() {
  const info = await (await fetchOk("/api/info")).json();
  document.body.dataset.base = String(info.base);
  $("tab-timeline").hidden = !info.series;
  for (const p of info.profiles) option($("profile"), p.id, p.name);
  $("profile").value = info.default_profile;
  for (const t of info.sample_types) option($("si"), t, t);
  $("si").value = info.default_sample_type;
  $("controls").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  for (const id of ["profile", "si"]) $(id).addEventListener("change", load);
  for (const th of document.querySelectorAll("#top-table th[data-key]")) {
    th.addEventListener("click", () => { sortKey = th.dataset.key; renderTable(); });
  }
  $("peek-go").addEventListener("click", peek);
  $("peek-re").addEventListener("keydown", (ev) => { if (ev.key === "Enter") peek(); });
  initGraphs();
  initSource();
  window.addEventListener("hashchange", showTab);
  await showTab();
  // For tests and scripts: every view has its first data.
  document.body.dataset.ready = "true";
}

// After every deferred script has run, so that all views are defined.
document.addEventListener("DOMContentLoaded", () => init().catch((e) => showError(e.message)));
