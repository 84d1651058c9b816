"use strict";
// The Source view: per-line flat and cumulative values of the functions
// matching a regexp (as `heapprof list`), with the source text when the server
// found the file under its source path.

async function list() {
  const re = $("source-re").value.trim();
  const box = $("source-list");
  if (!re) return;
  box.replaceChildren();
  showError("");
  let listing;
  try {
    listing = await (await fetchOk("/api/list?" + params() + "&re=" + encodeURIComponent(re))).json();
  } catch (e) {
    showError(e.message);
    return;
  }
  const u = listing.sample_unit;
  for (const f of listing.functions) {
    const h = document.createElement("h3");
    h.textContent = `${f.name} in ${f.file || "(no file in the profile)"}`;
    const sum = document.createElement("p");
    sum.className = "routine";
    sum.textContent = `${fmtIn(f.flat, u)} flat, ${fmtIn(f.cum, u)} cum (${f.percent.toFixed(2)}% of the total)`;
    box.append(h, sum);
    if (!f.source_found) {
      const p = document.createElement("p");
      p.className = "notice";
      p.textContent = f.file
        ? `Source file ${f.file} not found under ${listing.source_path.join(", ")}: ` +
          "only the lines with samples are shown (start heapprof web with --source-path DIR or --trim-path PREFIX)."
        : "The profile names no source file for this function: only the lines with samples are shown.";
      box.appendChild(p);
    }
    const table = document.createElement("table");
    table.className = "source-lines";
    const head = document.createElement("tr");
    for (const t of ["flat", "cum", "line", "source"]) {
      const th = document.createElement("th");
      th.textContent = t;
      if (t === "source") th.className = "name";
      head.appendChild(th);
    }
    table.appendChild(head);
    for (const l of f.lines) {
      const tr = document.createElement("tr");
      if (l.flat !== 0 || l.cum !== 0) tr.className = "hot";
      cell(tr, l.flat ? fmtIn(l.flat, u) : ".");
      cell(tr, l.cum ? fmtIn(l.cum, u) : ".");
      cell(tr, String(l.line), "lineno");
      cell(tr, l.text === null ? "" : l.text, "code");
      table.appendChild(tr);
    }
    box.appendChild(table);
  }
}

function listAt(name) {
  $("source-re").value = escapeRegex(name);
  if (location.hash === "#source") list();
  else location.hash = "#source";
}

function initSource() {
  $("source-go").addEventListener("click", list);
  $("source-re").addEventListener("keydown", (ev) => { if (ev.key === "Enter") list(); });
}
