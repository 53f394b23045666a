// The care pages' actions: screening answers, follow-ups done, triage, visits, requests, rules.
"use strict";
(() => {
  const $ = (selector) => document.querySelector(selector);
  const fail = (form) => (error) => form ? telemed.showError(form, error, {}) : telemed.toast(error.message, "critical");
  const isoOf = (value) => value ? new Date(value).toISOString() : null;

  function submit(form, build, done) {
    form?.addEventListener("submit", (event) => {
      event.preventDefault();
      telemed.clearErrors(form);
      const [method, url, body] = build(form);
      telemed.api(method, url, body).then(done, fail(form));
    });
  }

  submit($("#screening-form"), (form) => {
    const answers = {};
    for (const field of form.querySelectorAll("input, select")) {
      if (field.type === "radio") { if (field.checked) answers[field.name] = field.value === "true"; }
      else if (field.value.trim()) answers[field.name] = field.value;
    }
    return ["POST", `/api/care/intakes/${form.dataset.intake}/screening`, { answers }];
  }, (found) => {
    const labels = Object.fromEntries([...document.querySelectorAll("#raised-labels li")].map(li => [li.dataset.raise, li.textContent]));
    found.raised.forEach(r => telemed.toast(labels[r] || r, "critical"));
    location.reload();
  });

  $("#assessed")?.addEventListener("click", (event) =>
    telemed.api("POST", `/api/care/intakes/${event.target.dataset.intake}/assessment`, {}).then(() => location.reload(), fail()));

  document.querySelectorAll("[data-done]").forEach(button => button.addEventListener("click", () =>
    telemed.api("POST", `/api/care/follow-ups/${button.dataset.done}/done`, {}).then(() => button.closest("tr").remove(), fail())));

  const triage = $("#triage-form");
  const triageBody = (form, schedule) => ({ urgent: form.elements.urgent.checked, place: form.elements.place.value,
    reason: schedule ? "" : form.elements.reason.value, visit_at: schedule ? isoOf(form.elements.visit_at.value) : null });
  submit(triage, (form) => ["POST", `/api/care/sick-calls/${form.dataset.call}/triage`, triageBody(form, true)], () => location.reload());
  $("#no-action")?.addEventListener("click", () => {
    telemed.clearErrors(triage);
    telemed.api("POST", `/api/care/sick-calls/${triage.dataset.call}/triage`, triageBody(triage, false))
      .then(() => location.reload(), fail(triage));
  });

  const visit = $("#visit-form");
  const showFor = () => visit.querySelectorAll("[data-for]").forEach(box => { box.hidden = box.dataset.for !== visit.elements.outcome.value; });
  if (visit) { visit.elements.outcome.addEventListener("change", showFor); showFor(); }
  submit(visit, (form) => {
    const el = form.elements;
    const body = { outcome: el.outcome.value, note: el.note.value };
    if (body.outcome === "labs") body.panels = [...form.querySelectorAll("[name=panels]:checked")].map(box => box.value);
    if (body.outcome === "consult") body.consult = { hospital_id: el.hospital_id.value, specialty: el.specialty.value,
      urgency: el.urgency.value, question: el.question.value };
    return ["POST", `/api/care/sick-calls/${form.dataset.call}/visit`, body];
  }, () => location.reload());

  submit($("#request-form"), (form) => {
    const el = form.elements;
    return ["POST", "/api/care/sick-calls", { booking_number: el.booking_number.value, category: el.category.value,
      words: el.words.value, urgent: el.urgent ? el.urgent.checked : false }];
  }, (found) => {
    const form = $("#request-form"), receipt = $("#receipt");
    receipt.textContent = receipt.dataset.text.replace("{name}", found.name).replace("{when}", telemed.when(found.received_at));
    receipt.hidden = false;
    form.elements.words.value = "";
    form.elements.booking_number.value = "";
  });

  submit($("#rules-form"), (form) => ["PUT", "/api/care/rules",
    Object.fromEntries([...form.querySelectorAll("input[type=number]")].map(i => [i.name, Number(i.value)]))],
  () => telemed.toast($("#rules-form").dataset.saved));
})();
