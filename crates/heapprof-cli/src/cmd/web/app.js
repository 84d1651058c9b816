"use strict";
// The heapprof web UI: a top table and a flame graph per profile. Everything comes
// from this server's /api/* and /flamegraph.svg; no other origin is contacted.
const $ = (id) => document.getElementById(id);
let rows = [];
let sortKey = "flat";
let unit = "";

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

function fmt(v) {
  return Number.isInteger(v) ? v.toLocaleString("en-US") : v.toFixed(2);
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
  for (const r of sorted) {
    const tr = document.createElement("tr");
    for (const key of ["flat", "flat_percent", "sum_percent", "cum", "cum_percent", "name"]) {
      const td = document.createElement("td");
      const v = r[key];
      if (key === "name") td.addEventListener("click", () => peekAt(v));
      td.textContent = key === "name" ? v + (r.inline === "call" ? "" : ` (${r.inline})`)
        : key.endsWith("percent") ? v.toFixed(2) + "%" : fmt(v);
      if (key === "flat" && v > 0 && document.body.dataset.base === "true") td.className = "grew";
      if (key === "flat" && v < 0) td.className = "shrank";
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  for (const th of document.querySelectorAll("th")) th.classList.toggle("sorted", th.dataset.key === sortKey);
}

async function load() {
  showError("");
  const q = params();
  try {
    const top = await (await fetchOk("/api/top?" + q)).json();
    rows = top.rows;
    unit = top.header.sample_unit;
    $("legend").textContent = top.legend.join("\n") + `\nValues in ${unit}.`;
    renderTable();
    $("flame-svg").data = "/flamegraph.svg?" + q;
  } catch (e) {
    showError(e.message);
  }
}

function showTab() {
  const tab = ["#flame", "#peek"].includes(location.hash) ? location.hash.slice(1) : "top";
  for (const id of ["top", "flame", "peek"]) $(id).hidden = id !== tab;
}

function peekRow(body, cells, cls) {
  const tr = document.createElement("tr");
  if (cls) tr.className = cls;
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.appendChild(td);
  }
  body.appendChild(tr);
}

async function peek() {
  showError("");
  const re = $("peek-re").value.trim();
  if (!re) return;
  const body = document.querySelector("#peek-table tbody");
  body.replaceChildren();
  try {
    const q = params() + "&re=" + encodeURIComponent(re);
    const p = await (await fetchOk("/api/peek?" + q)).json();
    for (const e of p.entries) {
      for (const c of e.callers) peekRow(body, [fmt(c.weight), c.percent.toFixed(2) + "%", "  " + c.name], "caller");
      peekRow(body, [fmt(e.flat), fmt(e.cum), "| " + e.name], "entry");
      for (const c of e.callees) peekRow(body, [fmt(c.weight), c.percent.toFixed(2) + "%", "  " + c.name], "callee");
    }
  } catch (e) {
    showError(e.message);
  }
}

function peekAt(name) {
  $("peek-re").value = "^" + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "$";
  location.hash = "#peek";
  peek();
}

async function init() {
  const info = await (await fetchOk("/api/info")).json();
  document.body.dataset.base = String(info.base);
  for (const p of info.profiles) option($("profile"), p.id, p.name);
  for (const t of info.sample_types) option($("si"), t, t);
  $("si").value = info.default_sample_type;
  $("controls").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  for (const id of ["profile", "si"]) $(id).addEventListener("change", load);
  for (const th of document.querySelectorAll("th")) {
    th.addEventListener("click", () => { sortKey = th.dataset.key; renderTable(); });
  }
  $("peek-go").addEventListener("click", peek);
  window.addEventListener("hashchange", showTab);
  showTab();
  await load();
}

init().catch((e) => showError(e.message));
