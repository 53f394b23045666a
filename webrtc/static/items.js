// Shared items and call statistics of a consult, as the server words them: a lab panel as a
// table with a sparkline per test, a document's text, diagnoses and prescriptions.
"use strict";
window.consultItems = (() => {
  let cfg = null, t = null;
  const el = (...args) => telemed.el(...args);
  const NS = "http://www.w3.org/2000/svg";
  const FLAG_CLASS = (flag) => flag && flag !== "N" ? `flag-${flag}` : "";

  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    node.append(...children);
    return node;
  }

  // A small line of the shared values, the reference interval as a band behind it.
  function sparkline(series) {
    const W = 110, H = 28, P = 4;
    const values = series.points.map(p => p.value);
    const limits = [series.low, series.high].filter(v => v !== null && v !== undefined);
    let lo = Math.min(...values, ...limits), hi = Math.max(...values, ...limits);
    if (lo === hi) { lo -= 1; hi += 1; }
    const x = (i) => series.points.length === 1 ? W / 2 : P + (W - 2 * P) * i / (series.points.length - 1);
    const y = (v) => P + (H - 2 * P) * (1 - (v - lo) / (hi - lo));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "spark", role: "img",
      "aria-label": `${series.name}: ${values.join(", ")} ${series.unit}`, "data-points": values.length });
    if (limits.length) {
      const top = y(series.high ?? hi), bottom = y(series.low ?? lo);
      root.append(svg("rect", { x: 0, y: top, width: W, height: Math.max(bottom - top, 1), class: "band" }));
    }
    root.append(svg("polyline", { points: series.points.map((p, i) => `${x(i)},${y(p.value)}`).join(" "), class: "line" }));
    series.points.forEach((p, i) => root.append(svg("circle", { cx: x(i), cy: y(p.value), r: 2.6, class: `dot ${FLAG_CLASS(p.flag)}` },
      svg("title", {}, `${p.at}  ${p.value} ${series.unit}`))));
    return root;
  }

  // One row per result; the time is the panel's (in its heading), and each row's on hover.
  function results(entry, trends) {
    return el("table", { class: "list results", "data-testid": "results" },
      el("thead", {}, el("tr", {}, [t.test, t.value, t.range, t.flag, t.trend].map(h => el("th", {}, h)))),
      el("tbody", {}, entry.rows.map(row => el("tr", { "data-loinc": row.loinc || "", title: row.at },
        el("td", {}, row.name),
        el("td", { class: `value ${FLAG_CLASS(row.flag)}` }, row.value, " ", el("span", { class: "unit" }, row.unit),
          ...(row.marks || []).map(m => el("span", { class: "badge mark" }, m))),
        el("td", { class: "range" }, row.range),
        el("td", { class: `flag ${FLAG_CLASS(row.flag)}` }, row.flag === "N" ? "" : row.flag_label),
        el("td", {}, trends[row.loinc]?.points.length > 1 ? sparkline(trends[row.loinc]) : "")))));
  }

  function body(entry, trends) {
    switch (entry.kind) {
      case "results": return results(entry, trends);
      case "document":
        return entry.text !== undefined ? el("pre", { class: "doc" }, entry.text)
          : el("a", { href: entry.link, download: "" }, entry.title);
      case "diagnosis": return el("span", {}, el("b", {}, entry.code), " ", entry.text);
      default: return el("span", {}, entry.text);
    }
  }

  function render(data) {
    if (!data.entries.length) return el("p", { class: "muted" }, t.no_items);
    return el("ul", { class: "items" }, data.entries.map(entry => el("li", { "data-type": entry.type, "data-kind": entry.kind },
      el("div", { class: "item-head" }, el("span", { class: "badge" }, t[`kind_${entry.kind}`]),
        entry.produced ? el("span", { class: "badge ok" }, t.produced) : "", " ",
        entry.kind === "results" || entry.kind === "document" ? el("b", {}, entry.title) : "",
        entry.author ? el("span", { class: "muted" }, ` ${entry.author}`) : "",
        entry.at ? el("span", { class: "muted" }, ` ${entry.at}`) : ""),
      body(entry, data.trends))));
  }

  async function load(box) {
    let data;
    try { data = await telemed.api("GET", `/api/consults/${cfg.consult_id}/items`); }
    catch (error) { box.replaceChildren(el("p", { class: "error" }, error.message)); return; }
    box.replaceChildren(render(data));
  }

  async function stats(box) {
    const data = await telemed.api("GET", `/api/consults/${cfg.consult_id}/stats`);
    box.replaceChildren(el("table", { class: "list", "data-testid": "stats-table" },
      el("thead", {}, el("tr", {}, ["", t.rtt, t.bitrate, t.fps, t.loss].map(h => el("th", {}, h)))),
      el("tbody", {}, data.participants.map(p => el("tr", {}, el("td", {}, p.name), el("td", {}, p.rtt_ms ?? "–"),
        el("td", {}, p.bitrate_kbps ?? "–"), el("td", {}, p.frame_rate ?? "–"), el("td", {}, p.loss_percent ?? "–"))))));
  }

  // The words come from the page's #item-strings (templates/webrtc/_item_strings.html).
  function bind(config) { cfg = config; t = JSON.parse(document.getElementById("item-strings").textContent); }

  return { bind, load, stats };
})();
