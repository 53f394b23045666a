// The record page's forms (on-site doctor only): open and close them, flag vital signs as they
// are typed, post each form as JSON to /api/record/<patient>/..., show a refused field's message
// beside it, and reload the record once saved.
"use strict";
(() => {
  const root = document.getElementById("record");
  if (!root) return;
  const patient = root.dataset.patient;
  const bands = Object.fromEntries(JSON.parse(root.dataset.bands).map(b => [b.key, b]));
  const flagText = JSON.parse(root.dataset.flags);

  function show(form, yes = true) {
    form.hidden = !yes;
    if (yes) form.querySelector("input:not([type=hidden]):not([type=radio]), select, textarea")?.focus();
  }
  function reset(form) {
    form.reset();
    form.dataset.action = form.dataset.recordForm;
    delete form.dataset.draft;
    form.querySelectorAll("[data-amend-only]").forEach(el => { el.hidden = true; });
    form.querySelectorAll("[data-amend-hide]").forEach(el => { el.hidden = false; });
    clearErrors(form);
    form.querySelectorAll("[data-flag-for]").forEach(el => { el.textContent = ""; el.className = "live-flag"; });
  }
  root.addEventListener("click", (e) => {
    const opener = e.target.closest("[data-open]");
    if (opener) { const form = document.getElementById(opener.dataset.open); reset(form); show(form); }
    const closer = e.target.closest("[data-close]");
    if (closer) { const form = closer.closest("form"); reset(form); show(form, false); }
    const edit = e.target.closest("[data-edit-problem]");
    if (edit) editProblem(JSON.parse(edit.dataset.editProblem));
    const amend = e.target.closest("[data-amend-note]");
    if (amend) amendNote(JSON.parse(amend.dataset.amendNote));
    const draft = e.target.closest("[data-edit-draft]");
    if (draft) editDraft(JSON.parse(draft.dataset.editDraft));
    const saver = e.target.closest("[data-save-draft]");
    if (saver) { const form = saver.form; send(form, form.dataset.draft ? `notes/${form.dataset.draft}/draft` : "notes/draft", saver); }
  });

  function editProblem(p) {
    const form = document.getElementById("problem-form");
    reset(form);
    form.dataset.action = `problems/${p.id}`;
    form.querySelector("[data-picker]").pickerSet({ code: p.code, title: p.title });
    form.onset.value = p.onset || "";
    form.note.value = p.note || "";
    show(form);
    form.scrollIntoView({ block: "nearest" });
  }

  function openNote(note, action) {
    const form = document.getElementById("note-form");
    reset(form);
    form.dataset.action = action;
    form.querySelector(`input[name=shape][value=${note.shape}]`).checked = true;
    shape(form);
    for (const [key, text] of Object.entries(note.fields)) if (form.elements[key]) form.elements[key].value = text;
    show(form);
    form.scrollIntoView({ block: "center" });
    return form;
  }
  function amendNote(note) {
    const form = openNote(note, `notes/${note.id}/amend`);
    form.querySelectorAll("[data-amend-only]").forEach(el => { el.hidden = false; });
    form.querySelectorAll("[data-amend-hide]").forEach(el => { el.hidden = true; });
  }
  // a draft is saved again as a draft, or signed in place
  function editDraft(note) {
    openNote(note, `notes/${note.id}/sign`).dataset.draft = note.id;
  }

  // SOAP or free text
  function shape(form) {
    const chosen = form.querySelector("input[name=shape]:checked").value;
    form.querySelectorAll("[data-shape]").forEach(el => { el.hidden = el.dataset.shape !== chosen; });
  }
  document.querySelectorAll("#note-form input[name=shape]").forEach(r => r.addEventListener("change", () => shape(r.form)));

  // vital signs flagged as typed, against the bands the server flags with
  function flagOf(band, value) {
    if (value < band.min || value > band.max) return "implausible";
    if (band.critical_low !== null && value <= band.critical_low) return "LL";
    if (band.critical_high !== null && value >= band.critical_high) return "HH";
    if (band.low !== null && value < band.low) return "L";
    if (band.high !== null && value >= band.high) return "H";
    return "N";
  }
  document.querySelectorAll("input[data-vital]").forEach(input => input.addEventListener("input", () => {
    const out = document.querySelector(`[data-flag-for="${input.dataset.vital}"]`);
    const text = input.value.trim();
    const band = bands[input.dataset.vital];
    const value = Number(text);
    const flag = text === "" || Number.isNaN(value) ? "" : flagOf(band, value);
    const shown = flag === "N" && band.low === null && band.high === null ? "" : flag;
    out.textContent = shown ? flagText[shown] : "";
    out.className = `live-flag ${shown && shown !== "N" ? (shown === "implausible" ? "error" : `badge flag-${shown}`) : ""}`;
    out.dataset.flag = shown;
  }));

  // posting
  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach(el => { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(el => el.removeAttribute("aria-invalid"));
  }
  function fieldOf(form, name) {
    const field = form.elements[name];
    if (field instanceof RadioNodeList) return field[0];
    if (field?.type === "hidden") return field.closest(".picker")?.querySelector("[data-picker]");
    return field;
  }
  async function send(form, action, button) {
    clearErrors(form);
    button.disabled = true;
    try {
      await telemed.api("POST", `/api/record/${encodeURIComponent(patient)}/${action}`, telemed.formData(form));
      location.reload();
    } catch (err) {
      button.disabled = false;
      const errors = err.data?.errors;
      if (!errors) { telemed.toast(err.message, "critical"); return; }
      let first = null;
      for (const [name, message] of Object.entries(errors)) {
        const slot = form.querySelector(`[data-error-for="${name}"]`);
        const live = form.querySelector(`[data-flag-for="${name}"]`);
        if (live?.dataset.flag === "implausible") { live.textContent = ""; live.className = "live-flag"; }
        if (slot) slot.textContent = message; else telemed.toast(message, "critical");
        const field = fieldOf(form, name);
        field?.setAttribute("aria-invalid", "true");
        first ||= field;
      }
      first?.focus();
    }
  }
  document.querySelectorAll("form[data-record-form]").forEach(form => {
    form.dataset.action = form.dataset.recordForm;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      send(form, form.dataset.action, form.querySelector("button[type=submit]"));
    });
  });
})();
