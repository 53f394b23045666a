// A lab result's versions, on demand: any button.lab-history[data-observation] inside a table row
// opens (or closes) a row beneath it listing each version: when, value, flag, marks, notes.
"use strict";
(() => {
  const lang = document.querySelector("meta[name=lang]")?.content || "zh-CN";
  const cell = (text, attrs = {}) => {
    const td = document.createElement("td");
    for (const [k, v] of Object.entries(attrs)) td.setAttribute(k, v);
    td.textContent = text;
    return td;
  };
  const row = (cells, tag = "td") => {
    const tr = document.createElement("tr");
    tr.append(...cells.map(text => { const node = document.createElement(tag); node.textContent = text; return node; }));
    return tr;
  };

  async function open(button) {
    const owner = button.closest("tr");
    const next = owner.nextElementSibling;
    if (next?.classList.contains("lab-history-row")) { next.remove(); return; }
    const response = await fetch(`/api/labs/results/${encodeURIComponent(button.dataset.observation)}/history?lang=${lang}`,
      { headers: { Accept: "application/json" }, credentials: "same-origin" });
    const found = await response.json();
    const holder = document.createElement("tr");
    holder.className = "lab-history-row";
    if (!response.ok) { holder.append(cell(found.error || response.statusText, { colspan: owner.children.length })); owner.after(holder); return; }
    const c = found.columns;
    const when = (iso) => new Date(iso).toLocaleString(lang, { dateStyle: "short", timeStyle: "short", timeZone: found.timezone });
    const table = document.createElement("table");
    table.className = "list lab-history";
    table.append(row([c.version, c.recorded, c.result, c.flag, c.note], "th"),
      ...found.versions.map(v => row([String(v.version), when(v.at), [v.value, ...v.marks].join(" · "), v.flag_label, v.notes.join("; ")])));
    const td = cell("", { colspan: owner.children.length });
    td.append(table);
    holder.append(td);
    owner.after(holder);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.lab-history[data-observation]");
    if (button) open(button).catch(err => button.replaceWith(err.message));
  });
})();
