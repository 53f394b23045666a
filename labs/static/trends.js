// Lab trends on the record page: fills <section id="lab-trends" data-patient="..."> with a test
// picker and one plain-SVG chart per chosen test, the reference band drawn behind the points.
"use strict";
(() => {
  const section = document.getElementById("lab-trends");
  if (!section) return;
  const patient = section.dataset.patient;
  const lang = (typeof telemed !== "undefined" && telemed.lang) || "zh-CN";
  const TEXT = { "zh-CN": { title: "检验趋势", none: "暂无检验结果", ref: "参考区间" },
                 en: { title: "Lab trends", none: "No lab results", ref: "Reference" } }[lang === "en" ? "en" : "zh-CN"];
  const NS = "http://www.w3.org/2000/svg";
  const W = 420, H = 170, PAD = { l: 44, r: 10, t: 12, b: 26 };
  const COLOURS = { N: "#2b6cb0", L: "#c77700", H: "#c77700", A: "#c77700", LL: "#c0392b", HH: "#c0392b", AA: "#c0392b",
                    IND: "#667" };

  const svg = (tag, attrs = {}, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const html = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  };
  const get = async (url) => {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || response.statusText);
    return response.json();
  };

  function chart(series) {
    const points = series.points.filter(p => series.quantitative ? p.value !== null : p.value_code);
    const ys = series.quantitative ? points.map(p => p.value) : points.map(p => series.values.indexOf(p.value_code));
    const limits = series.quantitative ? [series.low, series.high].filter(v => v !== null) : [0, series.values.length - 1];
    let lo = Math.min(...ys, ...limits), hi = Math.max(...ys, ...limits);
    if (lo === hi) { lo -= 1; hi += 1; }
    const span = hi - lo; lo -= span * 0.1; hi += span * 0.1;
    const ts = points.map(p => Date.parse(p.at));
    const t0 = Math.min(...ts), t1 = Math.max(...ts) === t0 ? t0 + 86400000 : Math.max(...ts);
    const x = (t) => PAD.l + (W - PAD.l - PAD.r) * (t - t0) / (t1 - t0);
    const y = (v) => PAD.t + (H - PAD.t - PAD.b) * (1 - (v - lo) / (hi - lo));
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", class: "lab-chart" });
    if (series.quantitative && (series.low !== null || series.high !== null)) {
      const top = y(series.high ?? hi), bottom = y(series.low ?? lo);
      root.append(svg("rect", { x: PAD.l, y: top, width: W - PAD.l - PAD.r, height: Math.max(bottom - top, 1),
        fill: "#e5f4e6", "data-band": `${series.low ?? ""}-${series.high ?? ""}` }, undefined));
      root.lastChild.append(svg("title", {}, `${TEXT.ref} ${series.low ?? ""} – ${series.high ?? ""} ${series.unit}`));
    }
    const ticks = series.quantitative ? [...new Set([series.low, series.high, Math.min(...ys), Math.max(...ys)])]
      .filter(v => v !== null && v !== undefined) : series.values.map((_, i) => i);
    const placed = [];
    for (const v of ticks) {
      if (placed.some(p => Math.abs(y(p) - y(v)) < 11)) continue;  // keep labels from overlapping
      placed.push(v);
      const label = series.quantitative ? v.toFixed(series.decimals) : series.values[v];
      root.append(svg("text", { x: PAD.l - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#667" }, label));
    }
    root.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: H - PAD.b, y2: H - PAD.b, stroke: "#99a" }));
    const timeZone = series.timezone;  // the facility's, whatever the browser's
    const fmt = (t) => new Date(t).toLocaleDateString(lang, { month: "2-digit", day: "2-digit", timeZone });
    root.append(svg("text", { x: PAD.l, y: H - 8, "font-size": 10, fill: "#667" }, fmt(t0)));
    root.append(svg("text", { x: W - PAD.r, y: H - 8, "font-size": 10, fill: "#667", "text-anchor": "end" }, fmt(t1)));
    root.append(svg("polyline", { fill: "none", stroke: "#8aa", "stroke-width": 1.5,
      points: points.map((p, i) => `${x(ts[i])},${y(ys[i])}`).join(" ") }));
    points.forEach((p, i) => {
      // A censored value (<0.5) is drawn hollow at its limit, with its sign; marks (corrected,
      // haemolysed ...) are written beside the point.
      const colour = COLOURS[p.flag] || "#2b6cb0";
      const dot = svg("circle", { cx: x(ts[i]), cy: y(ys[i]), r: p.delta_flag ? 5 : 3.5, fill: p.censored ? "#fff" : colour,
        stroke: p.delta_flag ? "#000" : p.censored ? colour : "none", "stroke-width": 1.5, "data-flag": p.flag,
        "data-censored": p.censored ? "1" : "0" });
      dot.append(svg("title", {}, `${new Date(p.at).toLocaleString(lang, { timeZone })}  ${p.text || (p.value ?? p.value_code)} ${series.unit} ${p.flag} ${p.marks.join(" ")}`));
      root.append(dot);
      const note = [p.censored ? p.text : "", ...p.marks].filter(Boolean).join(" ");
      const right = x(ts[i]) > W / 2;  // written towards the middle, so that it stays inside the chart
      if (note) root.append(svg("text", { x: x(ts[i]) + (right ? -6 : 6), y: y(ys[i]) - 6, "font-size": 9, fill: colour,
        "text-anchor": right ? "end" : "start", class: "lab-mark" }, note));
    });
    return root;
  }

  async function show(test, box) {
    const series = await get(`/api/labs/trends?${new URLSearchParams({ patient, loinc: test.loinc, lang })}`);
    box.replaceChildren(html("h4", {}, `${series.abbr} ${series.name} ${series.unit ? `(${series.unit})` : ""}`), chart(series));
  }

  async function init() {
    section.replaceChildren(html("h2", {}, TEXT.title));
    let tests;
    try { tests = await get(`/api/labs/trends?${new URLSearchParams({ patient, lang })}`); }
    catch (err) { section.append(html("p", { class: "muted" }, err.message)); return; }
    if (!tests.length) { section.append(html("p", { class: "muted" }, TEXT.none)); return; }
    const charts = html("div", { class: "lab-charts" });
    const shown = new Map();
    const toggle = (test, chip) => {
      if (shown.has(test.loinc)) { shown.get(test.loinc).remove(); shown.delete(test.loinc); chip.classList.remove("active"); return; }
      const box = html("div", { class: "lab-chart-box", "data-loinc": test.loinc });
      shown.set(test.loinc, box); charts.append(box); chip.classList.add("active");
      show(test, box).catch(err => box.replaceChildren(err.message));
    };
    const picker = html("div", { class: "lab-picker" });
    const chips = tests.map(test => {
      const chip = html("button", { type: "button", class: `link flag-${test.last_flag}`, "data-loinc": test.loinc,
        title: test.name }, `${test.abbr} (${test.count})`);
      if (test.last_flag !== "N") chip.style.cssText = `font-weight:700;color:${COLOURS[test.last_flag]}`;
      chip.addEventListener("click", () => toggle(test, chip));
      picker.append(chip, " ");
      return chip;
    });
    section.append(picker, charts);
    const abnormal = tests.map((t, i) => [t, chips[i]]).filter(([t]) => t.last_flag !== "N");
    (abnormal.length ? abnormal : tests.map((t, i) => [t, chips[i]])).slice(0, 3).forEach(([t, c]) => toggle(t, c));
  }
  init();
})();
