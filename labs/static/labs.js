// The /labs page: critical alerts (pushed), held messages, orders, manual entry with live flags, import.
"use strict";
(() => {
  const root = document.getElementById("labs");
  if (!root) return;
  const T = JSON.parse(document.getElementById("labs-text").textContent);
  const lang = root.dataset.lang;
  const $ = (sel) => root.querySelector(sel);
  const el = telemed.el;
  let catalog = null, patient = null;

  const timeZone = root.dataset.tz;  // the facility's, whatever the browser's
  const when = (iso) => new Date(iso).toLocaleString(lang, { dateStyle: "short", timeStyle: "short", timeZone });
  const fail = (err) => telemed.toast(err.message, "critical");

  // -- critical alerts ------------------------------------------------------------------------
  function alertRow(a) {
    const button = el("button", { class: "danger", onclick: async () => {
      try { await telemed.api("POST", `/api/labs/alerts/${a.id}/ack`); row.remove(); countAlerts(); } catch (e) { fail(e); }
    } }, T.ack);
    const row = el("tr", { "data-alert": a.id }, el("td", {}, when(a.created_at)), el("td", {}, `${a.name} ${a.booking_number}`),
      el("td", {}, `${a.test} ${lang === "en" ? a.test_en : a.test_zh}`),
      el("td", { class: `flag-${a.flag}` }, `${a.value} ${a.flag}`, ...(a.marks?.[lang] || []).map(m => el("span", { class: "badge mark" }, m))),
      el("td", {}, button));
    return row;
  }
  function countAlerts() { $("#alert-count").textContent = $("#alerts tbody").children.length; }
  async function loadAlerts() {
    const rows = await telemed.api("GET", "/api/labs/alerts");
    $("#alerts tbody").replaceChildren(...rows.map(alertRow));
    countAlerts();
  }
  telemed.on("lab.critical", (m) => {
    if (!$(`#alerts tr[data-alert="${m.alert.id}"]`)) $("#alerts tbody").prepend(alertRow(m.alert));
    countAlerts();
  });

  // -- held messages --------------------------------------------------------------------------
  async function loadHeld() {
    const rows = await telemed.api("GET", "/api/labs/held");
    $("#held tbody").replaceChildren(...rows.map(h => {
      const resolve = el("button", { class: "link", onclick: async () => {
        await telemed.api("POST", `/api/labs/held/${h.id}/resolve`); tr.remove(); } }, T.resolve);
      const retry = h.channel === "hl7" ? el("button", { class: "link", onclick: async () => {
        try {
          const outcome = await telemed.api("POST", `/api/labs/held/${h.id}/retry`);
          telemed.toast(`${outcome.code}: ${outcome.text}`, outcome.code === "AA" ? "ok" : "");
          loadHeld();
        } catch (e) { fail(e); } } }, T.retry) : "";
      const tr = el("tr", {}, el("td", {}, when(h.received_at)), el("td", {}, `${h.channel_label} ${h.analyzer || h.sender}`),
        el("td", {}, h.reason_text, ...h.unknown_codes.map(c => mapControl(h, c)),
          el("pre", { class: "held" }, h.content.replaceAll("\r", "\n"))), el("td", {}, retry, " ", resolve));
      return tr;
    }));
  }

  // One action from the review queue: map an unknown code of the sending analyzer, file the message again.
  function mapControl(h, c) {
    const tests = el("select", { name: "loinc" }, ...catalog.tests.map(t => el("option", { value: t.loinc }, `${t.abbr} · ${t.name}`)));
    const unit = el("select", { name: "unit" });
    const units = () => {
      const t = catalog.tests.find(x => x.loinc === tests.value);
      unit.replaceChildren(el("option", { value: "" }, c.unit ? `${T.unit_in_message} (${c.unit})` : T.unit_in_message),
        ...(t.scale === "Qn" ? [t.unit, ...Object.keys(t.alt_units)] : []).map(u => el("option", { value: u }, catalog.unit_labels[u] ?? u)));
    };
    tests.addEventListener("change", units);
    units();
    const go = el("button", { class: "primary", onclick: async () => {
      try {
        const outcome = await telemed.api("POST", `/api/labs/held/${h.id}/map`, { code: c.code, loinc: tests.value, unit: unit.value });
        telemed.toast(`${outcome.code}: ${outcome.text}`, outcome.code === "AA" ? "ok" : "");
        loadHeld(); loadAlerts();
      } catch (e) { fail(e); } } }, T.map_and_refile);
    return el("div", { class: "map-code", "data-code": c.code }, el("span", {}, `${T.map_code} `, el("code", {}, c.code), ` ${c.text} →`), tests, unit, go);
  }

  // -- the detainee ---------------------------------------------------------------------------
  const age = (birth) => {
    if (!birth) return null;
    const b = new Date(birth), n = new Date();
    return n.getFullYear() - b.getFullYear() - ((n.getMonth() < b.getMonth() || (n.getMonth() === b.getMonth() && n.getDate() < b.getDate())) ? 1 : 0);
  };
  $("#patient-form").addEventListener("picker:select", (e) => choose({ ...e.detail, patient_id: e.detail.ref }));
  $("#patient-form").addEventListener("submit", (e) => e.preventDefault());

  function choose(d) {
    patient = d;
    $("#patient-info").textContent = `${d.name} · ${T[d.sex] || d.sex} · ${age(d.birth_date) ?? "?"} ${T.years} · ${d.cell || ""}`;
    renderEntry();
    loadOrders();
    loadResults().catch(fail);
  }

  // -- the detainee's results: as written, with their marks; history and correction -----------
  const HISTORY_STATUSES = new Set(["corrected", "amended", "cancelled", "entered-in-error"]);
  function resultRow(r) {
    const value = el("td", { class: "lab-value" }, `${r.value} ${r.unit}`.trim(),
      ...r.marks.map(m => el("span", { class: "badge mark" }, m)));
    const history = HISTORY_STATUSES.has(r.status)
      ? el("button", { type: "button", class: "link lab-history", "data-observation": r.observation_id }, T.history) : "";
    const correct = el("button", { type: "button", class: "link", onclick: () => correctForm(tr, r) }, T.correct);
    const tr = el("tr", { "data-observation": r.observation_id }, el("td", {}, when(r.effective_at)),
      el("td", {}, `${r.abbr} ${r.name}`), value, el("td", { class: `flag-${r.flag}` }, r.flag_label),
      el("td", {}, history, " ", correct));
    return tr;
  }
  function correctForm(tr, r) {
    if (tr.nextElementSibling?.classList.contains("correct-row")) { tr.nextElementSibling.remove(); return; }
    const form = el("form", { class: "row correct-form" },
      el("label", {}, T.new_value, " ", el("input", { name: "value", required: true, autocomplete: "off" })),
      el("label", {}, T.reason, " ", el("input", { name: "reason", required: true, maxlength: 500 })),
      el("button", { type: "submit", class: "primary" }, T.save));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await telemed.api("POST", `/api/labs/results/${r.observation_id}/correct`,
          { value: form.value.value.trim(), reason: form.reason.value.trim() });
        telemed.toast(T.corrected, "ok");
        loadResults();
        loadAlerts();  // the correction may have closed an alert or raised one
      } catch (err) { fail(err); }
    });
    tr.after(el("tr", { class: "correct-row" }, el("td", { colspan: 5 }, form)));
  }
  async function loadResults() {
    if (!patient) return;
    const rows = await telemed.api("GET", `/api/labs/results?${new URLSearchParams({ patient: patient.patient_id, lang })}`);
    $("#results tbody").replaceChildren(...(rows.length ? rows.map(resultRow)
      : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, T.none))]));
  }

  // -- orders ---------------------------------------------------------------------------------
  function cancelForm(o) {
    const form = el("form", { class: "row cancel-form" },
      el("select", { name: "loinc" }, ...o.outstanding.map(t => el("option", { value: t }, abbr(t)))),
      el("input", { name: "reason", required: true, maxlength: 200, placeholder: T.reason }),
      el("button", { type: "submit", class: "link" }, T.cancel_test));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        await telemed.api("POST", `/api/labs/orders/${o.id}/cancel`, { loinc: form.loinc.value, reason: form.reason.value.trim() });
        telemed.toast(T.cancelled, "ok"); loadOrders();
      } catch (err) { fail(err); }
    });
    return form;
  }
  async function loadOrders() {
    const rows = await telemed.api("GET", "/api/labs/orders");
    $("#orders tbody").replaceChildren(...rows.map(o => el("tr", { "data-order": o.id }, el("td", {}, when(o.ordered_at)),
      el("td", {}, `${o.name} ${o.booking_number}`),
      el("td", {}, o.outstanding.map(abbr).join(" "), cancelForm(o)))));
    const mine = rows.filter(o => patient && o.patient_id === patient.patient_id);
    $("#entry-form select[name=order_id]").replaceChildren(el("option", { value: "" }, "—"),
      ...mine.map(o => el("option", { value: o.id }, `${when(o.ordered_at)} ${o.tests.map(abbr).slice(0, 6).join(" ")}`)));
  }
  const abbr = (loinc) => catalog?.tests.find(t => t.loinc === loinc)?.abbr || loinc;

  $("#order-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!patient) return telemed.toast(T.no_patient);
    const panels = [...e.target.querySelectorAll("input[name=panels]:checked")].map(i => i.value);
    try {
      await telemed.api("POST", "/api/labs/orders", { patient_id: patient.patient_id, panels, note: e.target.note.value });
      telemed.toast(T.ordered, "ok"); e.target.reset(); loadOrders();
    } catch (err) { fail(err); }
  });

  // -- manual entry with live flags -----------------------------------------------------------
  function rangeText(t) {
    if (t.scale !== "Qn") return t.normal.join("|");
    const bands = t.ranges[patient?.sex === "female" ? "female" : "male"];
    if (!bands) return "—";
    const years = age(patient?.birth_date);
    const b = bands.find(x => years == null || (x.age_min <= years && years <= x.age_max)) || bands[0];
    return b.low == null ? `≤ ${b.high}` : b.high == null ? `≥ ${b.low}` : `${b.low} – ${b.high}`;
  }
  function renderEntry() {
    if (!catalog) return;
    const panel = catalog.panels.find(p => p.code === $("#entry-form select[name=panel]").value);
    $("#entry tbody").replaceChildren(...panel.tests.map(code => {
      const t = catalog.tests.find(x => x.loinc === code);
      // Quantitative values may be censored (<0.5) or ranges (1-5): a text field, not a number one.
      const input = el("input", { name: code, "data-loinc": code, list: t.scale === "Qn" ? null : `values-${code}`,
        oninput: schedulePreview });
      return el("tr", {}, el("td", {}, `${t.abbr} ${t.name}`),
        el("td", {}, input, t.scale === "Qn" ? "" : el("datalist", { id: `values-${code}` }, ...t.values.map(v => el("option", { value: v })))),
        el("td", {}, t.unit), el("td", { class: "range" }, rangeText(t)), el("td", { class: "flag", "data-flag": code }));
    }));
  }
  const entries = () => [...root.querySelectorAll("#entry input[data-loinc]")]
    .filter(i => i.value.trim()).map(i => ({ loinc: i.dataset.loinc, value: i.value.trim() }));
  let previewTimer = null;
  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(async () => {
      if (!patient) return;
      const found = await telemed.api("POST", "/api/labs/check", { patient_id: patient.patient_id, results: entries() });
      root.querySelectorAll("#entry td.flag").forEach(td => { td.textContent = ""; td.className = "flag"; td.title = ""; });
      for (const f of found) {
        const td = $(`#entry td[data-flag="${f.loinc}"]`);
        if (f.error) { td.textContent = "✗"; td.title = f.error; td.className = "flag flag-AA"; }
        else { td.textContent = f.flag === "N" ? "" : f.flag_label; td.className = `flag flag-${f.flag}`; }
      }
    }, 250);
  }
  $("#entry-form select[name=panel]").addEventListener("change", renderEntry);
  $("#entry-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!patient) return telemed.toast(T.no_patient);
    const local = e.target.effective_at.value;
    const body = { patient_id: patient.patient_id, results: entries(), order_id: e.target.order_id.value || null,
      effective_at: local ? `${local}:00` : null };  // facility-local; the server applies its time zone
    try {
      const saved = await telemed.api("POST", "/api/labs/results", body);
      telemed.toast(`${T.saved}: ${saved.results.length}`, "ok"); renderEntry(); loadOrders(); loadResults();
    } catch (err) { fail(err); }
  });

  // -- import with pushed progress ------------------------------------------------------------
  telemed.on("lab.import.progress", (m) => {
    $("#import-progress > div").style.width = `${m.total ? Math.round(100 * m.done / m.total) : 100}%`;
  });
  $("#import-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#import-progress > div").style.width = "0";
    const response = await fetch("/api/labs/import", { method: "POST", body: new FormData(e.target),
      headers: { "X-CSRF-Token": telemed.csrf }, credentials: "same-origin" });
    const report = await response.json();
    if (!response.ok) return telemed.toast(report.error, "critical");
    $("#import-progress > div").style.width = "100%";
    $("#import-report").replaceChildren(
      el("p", {}, `${T.imported}: ${report.added} / ${report.results} · ${T.duplicates} ${report.duplicates} · ${T.errors} ${report.error_count}`),
      el("ul", {}, ...report.errors.slice(0, 50).map(x => el("li", {}, `#${x.row} ${x.column} ${x.reason}`))));
    loadAlerts();
  });

  telemed.api("GET", `/api/labs/catalog?lang=${lang}`).then(c => { catalog = c; renderEntry(); loadOrders(); loadHeld().catch(fail); });
  loadAlerts().catch(fail);
})();
