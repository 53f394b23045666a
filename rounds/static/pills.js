// The pill line: one pill call's doses by cell. The detainee at the hatch is identified first
// (wristband scanned or typed, photo confirmed); then each of their doses is recorded as given,
// refused, held (with a reason) or not available, with the witnessing officer (two for a
// controlled medicine). A dose of another detainee is refused unless overridden with a reason.
"use strict";
(() => {
  const root = document.getElementById("pills");
  const labels = JSON.parse(root.dataset.labels);
  const form = document.getElementById("pill-call");
  const { el, api } = telemed;
  let identified = null;

  function params() {
    const { slot, block } = telemed.formData(form);
    return new URLSearchParams({ slot, ...(block ? { block } : {}) });
  }

  async function record(dose, outcome, extra = {}) {
    const { witness, second_witness } = telemed.formData(form);
    const body = { dose: dose.key, outcome, identified: identified?.patient_id || "", witness: Number(witness) || null,
                   second_witness: Number(second_witness) || null, ...extra };
    try {
      const done = await api("POST", "/api/rounds/doses", body);
      telemed.toast(done.flags.length ? labels.flagged : labels.recorded, done.flags.length ? "critical" : "ok");
      load();
    } catch (err) {
      if (err.status === 409 && err.data?.field === "identified") askOverride(dose, outcome, extra);
      else telemed.toast(err.message, "critical");
    }
  }

  function inlineForm(dose, label, buttonText, send) {
    const holder = document.querySelector(`[data-dose="${dose.key}"] .extra`);
    const input = el("input", { name: "text", required: "required", minlength: "3", "aria-label": label, "data-testid": "extra-text" });
    const box = el("form", { class: "row" }, el("label", {}, label, input),
      el("button", { type: "submit", class: "primary", "data-testid": "extra-send" }, buttonText));
    box.addEventListener("submit", event => { event.preventDefault(); send(input.value); });
    holder.replaceChildren(box);
    input.focus();
  }

  function askOverride(dose, outcome, extra) {
    telemed.toast(labels.wrong, "critical");
    inlineForm(dose, labels.override, labels.override_go, text => record(dose, outcome, { ...extra, override: text }));
  }

  function outcomeButtons(dose) {
    return ["given", "refused", "held", "unavailable"].map(outcome => {
      const button = el("button", { type: "button", class: outcome === "given" ? "primary big" : "big",
                                    "data-outcome": outcome, ...(identified ? {} : { disabled: "disabled" }) }, labels[outcome]);
      button.addEventListener("click", () => {
        if (outcome === "held") inlineForm(dose, labels.reason, labels.held, text => record(dose, "held", { reason: text }));
        else record(dose, outcome);
      });
      return button;
    });
  }

  function doseRow(dose) {
    const mine = identified && identified.patient_id === dose.patient_id;
    const open = dose.state === "due" || dose.state === "missed";
    return el("li", { class: `dose ${mine ? "mine" : ""}`, "data-dose": dose.key, "data-testid": "dose", "data-state": dose.state },
      el("div", { class: "row" }, el("strong", {}, dose.name), el("span", { class: "muted" }, dose.booking_number)),
      el("div", { class: "row" }, el("span", {}, `${dose.medicine} ${dose.dose}`),
        dose.route ? el("span", { class: "muted" }, labels.routes[dose.route] || "") : "",
        dose.controlled ? el("span", { class: "badge warn" }, labels.controlled) : "",
        el("span", { class: `badge state-${dose.state}`, "data-testid": "state" }, labels[dose.state] || dose.state)),
      open ? el("div", { class: "row outcomes" }, outcomeButtons(dose)) : "",
      el("div", { class: "extra" }));
  }

  let asked = 0;  // a slower answer to an earlier choice must not replace a later one
  async function load() {
    const mine = ++asked;
    const line = await api("GET", `/api/rounds/pills?${params()}`);
    if (mine !== asked) return;
    const block = form.elements.block;
    if (block.options.length === 1) line.blocks.forEach(b => block.append(el("option", { value: b }, b)));
    const byCell = new Map();
    line.doses.forEach(d => byCell.set(d.cell, [...(byCell.get(d.cell) || []), d]));
    const holder = document.getElementById("doses");
    if (!line.doses.length) { holder.replaceChildren(el("p", { class: "muted" }, labels.none)); return; }
    holder.replaceChildren(...[...byCell].map(([cell, doses]) => el("div", { class: "cell" },
      el("h3", {}, `${labels.cell} ${cell}`), el("ul", { class: "doses" }, doses.map(doseRow)))));
  }

  async function witnesses() {
    const people = await api("GET", "/api/rounds/witnesses");
    for (const select of [form.elements.witness, form.elements.second_witness]) {
      people.forEach(p => select.append(el("option", { value: p.id }, p.name)));
    }
  }

  roundsIdentify.onConfirm(found => {
    identified = found;
    const note = document.getElementById("identified");
    note.hidden = false;
    note.textContent = `${labels.identified} ${found.name} · ${found.booking_number}`;
    load();
  });
  form.addEventListener("change", load);
  witnesses().then(load);
})();
