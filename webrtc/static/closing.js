// The specialist's "Note & sign" pane: note, ICD-10 diagnoses (the shared picker), structured
// prescriptions and outcome; a draft that keeps all of it; a check before signing with gaps.
"use strict";
(() => {
  const form = document.getElementById("closing-form");
  if (!form) return;
  const cfg = JSON.parse(document.getElementById("room-config").textContent);
  const t = JSON.parse(document.getElementById("room-strings").textContent);
  const $ = (id) => document.getElementById(id);
  const el = telemed.el;
  const RX_FIELDS = ["medication", "dose_value", "dose_unit", "route", "frequency", "duration_days"];
  let diagnoses = [];

  // -- diagnoses: chosen with the picker, shown as removable chips ----------------------------
  function showDiagnoses() {
    $("diagnoses").replaceChildren(...diagnoses.map((d, i) => el("li", { "data-code": d.code },
      el("b", {}, d.code), ` ${d.display} `,
      el("button", { type: "button", class: "link", title: t.remove, "aria-label": `${t.remove} ${d.code}`,
        onclick: () => { diagnoses.splice(i, 1); showDiagnoses(); } }, "✕"))));
  }
  const picker = $("diagnosis-picker");
  picker.addEventListener("picker:select", (event) => {
    const { code, title } = event.detail;
    if (!diagnoses.some(d => d.code === code)) diagnoses.push({ code, display: title });
    showDiagnoses();
    picker.value = "";
  });

  // -- prescriptions: one table row each ------------------------------------------------------
  function addRow(values = {}) {
    const row = $("rx-row").content.firstElementChild.cloneNode(true);
    for (const key of RX_FIELDS) if (values[key] !== undefined && values[key] !== null) row.querySelector(`[name=${key}]`).value = values[key];
    row.querySelector(".remove").addEventListener("click", () => row.remove());
    $("prescriptions").append(row);
    return row;
  }
  $("add-rx").addEventListener("click", () => addRow().querySelector("[name=medication]").focus());

  function prescriptions() {
    return [...$("prescriptions").children].map(row => {
      const get = (key) => row.querySelector(`[name=${key}]`).value.trim();
      const number = (key) => get(key) === "" ? null : Number(get(key));
      return { medication: get("medication"), dose_value: number("dose_value"), dose_unit: get("dose_unit"),
        route: get("route"), frequency: get("frequency"), duration_days: number("duration_days") };
    }).filter(p => p.medication || p.dose_value !== null || p.duration_days !== null);
  }

  function body() {
    return { note: form.note.value, recommendations: form.recommendations.value, outcome: form.outcome.value,
      diagnoses, prescriptions: prescriptions() };
  }

  // -- the draft --------------------------------------------------------------------------------
  async function loadDraft() {
    const consult = await telemed.api("GET", `/api/consults/${cfg.consult_id}`);
    const draft = consult.draft || {};
    for (const key of ["note", "recommendations", "outcome"]) if (draft[key]) form[key].value = draft[key];
    diagnoses = draft.diagnoses || [];
    showDiagnoses();
    (draft.prescriptions || []).forEach(addRow);
  }
  $("save-draft").addEventListener("click", () => telemed.api("PUT", `/api/consults/${cfg.consult_id}/draft`, body())
    .then(() => telemed.toast(t.saved), (error) => telemed.toast(error.message, "critical")));

  // -- signing: what is required stops it, what is empty asks first ----------------------------
  function gaps(content) {
    const required = [], empty = [];
    if (!content.note.trim()) required.push(t.field_note);
    if (!content.outcome) required.push(t.field_outcome);
    const incomplete = content.prescriptions.some(p => !p.medication || !p.dose_value);
    if (incomplete) required.push(t.rx_incomplete);
    if (!content.recommendations.trim()) empty.push(t.field_recommendations);
    if (!content.diagnoses.length) empty.push(t.field_diagnoses);
    if (!content.prescriptions.length) empty.push(t.field_prescriptions);
    return { required, empty };
  }

  function sign(content) {
    return telemed.api("POST", `/api/consults/${cfg.consult_id}/sign`, content).then(() => {
      telemed.toast(t.signed);
      document.dispatchEvent(new CustomEvent("consult:signed"));
    }, (error) => telemed.toast(error.message, "critical"));
  }

  const dialog = $("sign-check");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const content = body();
    const { required, empty } = gaps(content);
    if (!required.length && !empty.length) { sign(content); return; }
    $("sign-check-title").textContent = required.length ? t.required_title : t.missing_title;
    $("sign-check-list").replaceChildren(...(required.length ? required : empty).map(name => el("li", {}, name)));
    $("sign-anyway").hidden = required.length > 0;
    $("sign-anyway").onclick = () => { dialog.close(); sign(content); };
    dialog.showModal();
  });
  $("sign-back").addEventListener("click", () => dialog.close());

  loadDraft().catch(error => telemed.toast(error.message, "critical"));
})();
