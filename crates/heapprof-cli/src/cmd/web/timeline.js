"use strict";
// The Timeline view: one point per profile of the series (its total), the
// fitted growth line, the verdict and the leak suspects, all from the server's
// trend analysis (the one `heapprof trend` prints). Drawn as plain SVG.

const SVG_NS = "http://www.w3.org/2000/svg";
const CHART = { width: 860, height: 300, left: 90, right: 20, top: 16, bottom: 44 };

function svgEl(name, attrs, text) {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function utc(nanos) {
  return new Date(nanos / 1e6).toISOString().replace(".000Z", "Z");
}

function duration(secs) {
  if (secs < 1) return (secs * 1000).toFixed(0) + " ms";
  if (secs < 120) return secs.toFixed(1) + " s";
  if (secs < 7200) return (secs / 60).toFixed(1) + " min";
  return (secs / 3600).toFixed(1) + " h";
}

async function loadTimeline() {
  if ($("tab-timeline").hidden) return;
  // The series follows the sample index chosen above; profile and filters do not apply.
  const si = $("si").value;
  const t = await (await fetchOk("/api/timeline?si=" + encodeURIComponent(si))).json();
  drawTimeline(t);
  describeTimeline(t);
}

function drawTimeline(t) {
  const c = CHART;
  const pts = t.totals;
  const t0 = pts[0].time_nanos;
  const span = Math.max((pts[pts.length - 1].time_nanos - t0) / 1e9, 1e-9);
  const max = Math.max(...pts.map((p) => p.total), 1) * 1.1;
  const x = (secs) => c.left + (secs / span) * (c.width - c.left - c.right);
  const y = (v) => c.top + (1 - v / max) * (c.height - c.top - c.bottom);
  const svg = svgEl("svg", { viewBox: `0 0 ${c.width} ${c.height}`, width: c.width, height: c.height, role: "img" });
  svg.appendChild(svgEl("title", {}, `${t.sample_type} over time`));
  for (const f of [0, 0.5, 1]) {
    const v = (max / 1.1) * f;
    svg.appendChild(svgEl("line", { x1: c.left, x2: c.width - c.right, y1: y(v), y2: y(v), class: "grid" }));
    svg.appendChild(svgEl("text", { x: c.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, fmtIn(v, t.unit)));
  }
  const bottom = c.height - c.bottom + 18;
  svg.appendChild(svgEl("text", { x: c.left, y: bottom, class: "axis" }, utc(t0)));
  svg.appendChild(svgEl("text", { x: c.width - c.right, y: bottom, class: "axis", "text-anchor": "end" },
    "+" + duration(span)));
  svg.appendChild(svgEl("text", { x: c.left, y: bottom + 18, class: "axis" },
    `${t.sample_type} of each profile (${pts.length} points)`));
  // The least-squares line of the analysis, over the analysed span.
  const fit = t.series.fit;
  const growing = !["stable", "decreasing"].includes(t.series.classification);
  svg.appendChild(svgEl("line", {
    x1: x(0), y1: y(fit.intercept), x2: x(span), y2: y(fit.intercept + fit.slope * span),
    class: growing ? "fit growing" : "fit",
  }));
  const line = pts.map((p) => `${x((p.time_nanos - t0) / 1e9)},${y(p.total)}`).join(" ");
  svg.appendChild(svgEl("polyline", { points: line, class: "series" }));
  for (const p of pts) {
    const dot = svgEl("circle", { cx: x((p.time_nanos - t0) / 1e9), cy: y(p.total), r: 5, class: "point" });
    dot.dataset.id = p.id;
    dot.appendChild(svgEl("title", {}, `${p.source}\n${utc(p.time_nanos)}\n${fmtIn(p.total, t.unit)}`));
    dot.addEventListener("click", () => openProfile(p.id));
    svg.appendChild(dot);
  }
  $("timeline-chart").replaceChildren(svg);
}

function describeTimeline(t) {
  const s = t.series;
  const perMin = fmtIn(s.robust_slope * 60, t.unit);
  $("timeline-summary").textContent =
    `${t.totals.length} profiles over ${duration(s.span_secs)}: ${fmtIn(s.first, t.unit)} → ${fmtIn(s.last, t.unit)}, ` +
    `${perMin}/min (${s.classification}). ${t.leak.summary}`;
  $("timeline-summary").className = t.leak.potential_leak ? "leak" : "";
  const body = document.querySelector("#suspects tbody");
  body.replaceChildren();
  for (const site of t.sites) {
    const tr = document.createElement("tr");
    cell(tr, fmtIn(site.slope_per_min, t.unit));
    cell(tr, (site.confidence * 100).toFixed(0) + "%");
    cell(tr, fmtIn(site.first, t.unit));
    cell(tr, fmtIn(site.last, t.unit));
    cell(tr, site.stack.join(" ← "), "name");
    body.appendChild(tr);
  }
  if (t.sites.length === 0) {
    const tr = document.createElement("tr");
    cell(tr, "no call stack grows steadily: no leak suspect", "name").colSpan = 5;
    body.appendChild(tr);
  }
}

// A point of the timeline opens its profile in the top table.
function openProfile(id) {
  if (id === null || id === undefined) return;
  $("profile").value = id;
  location.hash = "#top";
  load();
}
