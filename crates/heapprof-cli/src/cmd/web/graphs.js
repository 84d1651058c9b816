"use strict";
// The two pictures: the flame graph (inferno's SVG, with its own zoom script,
// in an <object>) and the call graph (Graphviz's SVG, inlined so that its
// nodes can be clicked).

// The flame graph's window, once its document has loaded.
function flameWindow() {
  const doc = $("flame-svg").contentDocument;
  return doc && doc.getElementById("frames") ? doc.defaultView : null;
}

function loadFlame(q) {
  $("flame-matched").textContent = "";
  return new Promise((resolve) => {
    const obj = $("flame-svg");
    obj.addEventListener("load", resolve, { once: true });
    obj.addEventListener("error", () => { showError("the flame graph did not load"); resolve(); }, { once: true });
    obj.data = "/flamegraph.svg?" + q;
  });
}

// Highlights the frames matching the search field with inferno's own search.
function flameSearch() {
  const w = flameWindow();
  const term = $("flame-term").value.trim();
  if (!w || !term) return;
  try {
    new RegExp(term);
  } catch (e) {
    showError("search: " + e.message);
    return;
  }
  showError("");
  flameClearSearch(w);
  w.search(term);
  const matched = w.document.getElementById("matched").textContent.trim();
  $("flame-matched").textContent = matched || "no match";
}

// inferno's search button toggles: pressed while searching, it clears.
function flameClearSearch(w) {
  if (w.searching) w.search_prompt();
}

function flameReset() {
  const w = flameWindow();
  if (!w) return;
  w.unzoom();
  flameClearSearch(w);
  $("flame-term").value = "";
  $("flame-matched").textContent = "";
}

async function loadGraph(q) {
  const box = $("graph-svg");
  box.replaceChildren();
  const r = await fetch("/callgraph.svg?" + q);
  const text = await r.text();
  if (!r.ok) {
    // Not a failure of the page: Graphviz may just not be installed.
    const p = document.createElement("p");
    p.className = "notice";
    p.textContent = text.trim();
    box.appendChild(p);
    return;
  }
  const parsed = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  if (parsed.nodeName !== "svg") throw new Error("the call graph is not an SVG picture");
  // Listeners go on the imported copy: importing does not carry them over.
  const svg = document.importNode(parsed, true);
  for (const node of svg.querySelectorAll("g.node")) {
    const title = node.querySelector("a");
    const tip = title && title.getAttributeNS("http://www.w3.org/1999/xlink", "title");
    if (!tip) continue;
    // "main.fillCache (61.93MB)": the function's name is before the value.
    const name = tip.replace(/ \([^()]*\)$/, "");
    node.dataset.name = name;
    node.addEventListener("click", () => {
      $("focus").value = escapeRegex(name);
      load();
    });
  }
  box.appendChild(svg);
}

function initGraphs() {
  $("flame-search").addEventListener("submit", (ev) => { ev.preventDefault(); flameSearch(); });
  $("flame-reset").addEventListener("click", flameReset);
}
