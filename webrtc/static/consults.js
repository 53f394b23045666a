// Consult work lists, with the triage and confirmation actions, and the request form.
"use strict";
(() => {
  const t = JSON.parse(document.getElementById("consult-strings").textContent);
  const el = telemed.el;
  const when = (iso) => telemed.when(iso, t.timezone);

  function localInput(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function flags(consult) {
    return [consult.flags.decision_overdue && el("span", { class: "badge danger" }, t.decision_overdue),
      consult.flags.signature_overdue && el("span", { class: "badge danger" }, t.signature_overdue)].filter(Boolean);
  }

  function act(method, url, body) {
    return telemed.api(method, url, body).then(load, (error) => telemed.toast(error.message, "critical"));
  }

  function actions(consult, list) {
    const base = `/api/consults/${consult.id}`;
    if (list === "awaiting_decision" && t.role === "specialist") {
      const reason = el("input", { placeholder: t.reason, name: "reason" });
      const start = el("input", { type: "datetime-local", name: "proposed_start", value: localInput(new Date(Date.now() + 3600e3)) });
      return [start, reason,
        el("button", { class: "primary", onclick: () => act("POST", `${base}/triage`,
          { decision: "accept", reason: reason.value, proposed_start: new Date(start.value).toISOString() }) }, t.accept),
        el("button", { onclick: () => act("POST", `${base}/triage`, { decision: "decline", reason: reason.value }) }, t.decline)];
    }
    const found = [];
    if (consult.status === "accepted" && t.role === "facility_doctor") {
      found.push(el("button", { class: "primary", onclick: () => act("POST", `${base}/confirm`, {}) },
        `${t.confirm}: ${when(consult.proposed_start)}`));
    }
    if (consult.status === "scheduled" || consult.status === "held") {
      found.push(el("a", { href: `/consults/${consult.id}/room`, class: "badge ok", "data-testid": "enter-room" }, t.enter_room));
    }
    return found;
  }

  function row(consult, list) {
    const who = consult.detainee?.name ? `${consult.detainee.name} (${consult.detainee.booking_number})`
      : t.anonymous.replace("{sex}", t.sex[consult.detainee?.sex] || t.sex.unknown)
        .replace("{year}", consult.detainee?.birth_date?.slice(0, 4) || "?");  // triage: who, not yet whom
    return el("div", { class: "consult-row", "data-consult": consult.id },
      el("div", {}, el("span", { class: `badge ${consult.urgency === "emergency" ? "danger" : consult.urgency === "urgent" ? "warn" : ""}` },
        t[`urgency_${consult.urgency}`] || consult.urgency), " ", el("b", {}, who), " · ", consult.specialty,
        " · ", el("span", { class: "muted status" }, t[`status_${consult.status}`] || consult.status), " ", ...flags(consult),
        consult.call_state ? el("span", { class: `badge ${consult.call_state === "brought" ? "ok" : consult.call_state === "pending" ? "" : "warn"}`,
          "data-testid": "call-state" }, t.call[consult.call_state]) : ""),
      el("div", { class: "muted" }, consult.question),
      el("div", { class: "muted" }, consult.status === "requested" ? `${t.due} ${when(consult.decision_due)}`
        : consult.status === "held" ? `${t.due} ${when(consult.sign_due)}` : when(consult.scheduled_start || consult.proposed_start)),
      el("div", { class: "actions" }, actions(consult, list)));
  }

  async function load() {
    const lists = await telemed.api("GET", "/api/consults");
    for (const [name, consults] of Object.entries(lists)) {
      const box = document.querySelector(`[data-list="${name}"]`);
      if (box) box.replaceChildren(...(consults.length ? consults.map(c => row(c, name)) : [el("p", { class: "muted" }, t.empty)]));
    }
    const counts = await telemed.api("GET", "/api/consults/outcomes");
    document.getElementById("trips").textContent = `${t.trips_avoided}: ${counts.trips_avoided}`;
  }

  async function setUpRequestForm(form) {
    const options = await telemed.api("GET", "/api/consult-options");
    const hospitalSelect = form.hospital_id, specialtySelect = form.specialty;
    const fill = () => {
      const hospital = options.hospitals.find(h => h.id === hospitalSelect.value);
      specialtySelect.replaceChildren(...(hospital?.specialties || []).map(s => el("option", { value: s }, s)));
    };
    hospitalSelect.replaceChildren(...options.hospitals.map(h => el("option", { value: h.id }, telemed.lang === "zh-CN" && h.name_zh ? h.name_zh : h.name)));
    hospitalSelect.addEventListener("change", fill);
    fill();
    const detainee = document.getElementById("request-detainee");
    const box = document.getElementById("share-items");
    // Once the detainee is chosen, what may be shared from their record is listed to tick.
    detainee.addEventListener("picker:select", async () => {
      const items = await telemed.api("GET", `/api/consult-shareable?patient_id=${encodeURIComponent(form.patient_id.value)}`)
        .catch(error => { telemed.toast(error.message, "critical"); return []; });
      box.querySelectorAll("label, p").forEach(l => l.remove());
      box.append(...(items.length ? items.map(item => el("label", { class: "check" },
        el("input", { type: "checkbox", name: "share", value: `${item.type}/${item.id}` }), `${item.label} ${item.date}`))
        : [el("p", { class: "muted" }, t.nothing_to_share)]));
      box.hidden = false;
    });
    const clear = () => { box.querySelectorAll("label, p").forEach(l => l.remove()); box.hidden = true; };
    detainee.addEventListener("picker:clear", clear);
    form.addEventListener("reset", clear);
    if (t.prefill) detainee.pickerSet(t.prefill);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const share = [...form.querySelectorAll("input[name=share]:checked")].map(box => {
        const [type, id] = box.value.split("/");
        return { type, id };
      });
      const body = { patient_id: form.patient_id.value, hospital_id: hospitalSelect.value, specialty: specialtySelect.value,
        urgency: form.urgency.value, question: form.question.value, share };
      telemed.api("POST", "/api/consults", body).then(() => { telemed.toast(t.requested); form.reset(); load(); },
        (error) => telemed.toast(error.message, "critical"));
    });
  }

  const form = document.getElementById("request-form");
  if (form) setUpRequestForm(form);
  ["consult.ring", "consult.requested", "consult.triaged", "consult.signed", "consult.invited"].forEach(type => telemed.on(type, load));
  load().catch(error => telemed.toast(error.message, "critical"));
})();
