// The pill line: one pill call's doses by cell. The detainee at the hatch is identified first
// (wristband scanned or typed, photo confirmed); then each of their doses is recorded as given,
// refused, held (with a reason) or not available, with the witnessing officer (two for a
// controlled medicine). A dose of another detainee is refused unless overridden with a reason.
// Each dose goes through the queue (queue.js) with the time it was recorded: sent now, or when the
// network returns; meanwhile its row shows it waiting, and a refusal that comes back shows on it.
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

  let line = null;  // the pill call last loaded: redrawn from here while the network is down
  // dose key -> why the server refused what was sent for it, and what was sent when an override
  // would record it: kept across redraws until the dose is recorded
  const refusals = new Map();

  const queue = sendQueue({
    store: "telemed.rounds.doses", url: "/api/rounds/doses", box: document.getElementById("queue"),
    onSent: (item, done) => {
      refusals.delete(item.dose);
      telemed.toast(done.flags.length ? labels.flagged : labels.recorded, done.flags.length ? "critical" : "ok");
      load();
    },
    onRefused: (item, err) => {
      const { key, ...sent } = item;
      const wrong = err.status === 409 && err.data?.field === "identified";
      refusals.set(item.dose, { message: err.message, override: wrong ? sent : null });
      if (wrong) telemed.toast(labels.wrong, "critical");
      draw();
    },
  });

  function record(dose, outcome, extra = {}) {
    const { witness, second_witness } = telemed.formData(form);
    refusals.delete(dose.key);
    queue.add({ dose: dose.key, outcome, identified: identified?.patient_id || "", witness: Number(witness) || null,
                second_witness: Number(second_witness) || null, ...extra });
    if (!navigator.onLine) telemed.toast(labels.queued);
    draw();
  }

  function extraForm(label, buttonText, send) {
    const input = el("input", { name: "text", required: "required", minlength: "3", "aria-label": label, "data-testid": "extra-text" });
    const box = el("form", { class: "row" }, el("label", {}, label, input),
      el("button", { type: "submit", class: "primary", "data-testid": "extra-send" }, buttonText));
    box.addEventListener("submit", event => { event.preventDefault(); send(input.value); });
    return box;
  }

  function inlineForm(dose, label, buttonText, send) {
    const box = extraForm(label, buttonText, send);
    document.querySelector(`[data-dose="${dose.key}"] .extra`).replaceChildren(box);
    box.elements.text.focus();
  }

  // sent again as it was (its time kept), with the reason for giving it to another detainee
  function overrideForm(sent) {
    return extraForm(labels.override, labels.override_go, text => {
      refusals.delete(sent.dose);
      queue.add({ ...sent, override: text });
      draw();
    });
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
    const state = queue.load().some(item => item.dose === dose.key) ? "waiting" : dose.state;
    const open = state === "due" || state === "missed";
    const refused = refusals.get(dose.key);
    return el("li", { class: `dose ${mine ? "mine" : ""}`, "data-dose": dose.key, "data-testid": "dose", "data-state": state },
      el("div", { class: "row" }, el("strong", {}, dose.name), el("span", { class: "muted" }, dose.booking_number)),
      el("div", { class: "row" }, el("span", {}, `${dose.medicine} ${dose.dose}`),
        dose.route ? el("span", { class: "muted" }, labels.routes[dose.route] || "") : "",
        dose.controlled ? el("span", { class: "badge warn" }, labels.controlled) : "",
        el("span", { class: `badge state-${state}`, "data-testid": "state" }, labels[state] || state)),
      refused ? el("p", { class: "refused", role: "alert", "data-testid": "dose-refused" },
        `${labels.not_recorded}: ${refused.message}`) : "",
      open ? el("div", { class: "row outcomes" }, outcomeButtons(dose)) : "",
      el("div", { class: "extra" }, refused?.override ? overrideForm(refused.override) : ""));
  }

  function draw() {
    if (!line) return;
    const byCell = new Map();
    line.doses.forEach(d => byCell.set(d.cell, [...(byCell.get(d.cell) || []), d]));
    const holder = document.getElementById("doses");
    if (!line.doses.length) { holder.replaceChildren(el("p", { class: "muted" }, labels.none)); return; }
    holder.replaceChildren(...[...byCell].map(([cell, doses]) => el("div", { class: "cell" },
      el("h3", {}, `${labels.cell} ${cell}`), el("ul", { class: "doses" }, doses.map(doseRow)))));
  }

  let asked = 0;  // a slower answer to an earlier choice must not replace a later one
  async function load() {
    const mine = ++asked;
    const loaded = await api("GET", `/api/rounds/pills?${params()}`);
    if (mine !== asked) return;
    const block = form.elements.block;
    if (block.options.length === 1) loaded.blocks.forEach(b => block.append(el("option", { value: b }, b)));
    line = loaded;
    draw();
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
