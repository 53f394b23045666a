// The consult history: signed and declined consults, searched by the detainee's booking
// number, name or cell; a row opens the consult (its signed note).
"use strict";
(() => {
  const t = JSON.parse(document.getElementById("history-strings").textContent);
  const el = telemed.el;
  const form = document.getElementById("history-search");
  const body = document.querySelector("#history tbody");
  const when = (iso) => telemed.when(iso, t.timezone);

  function row(c) {
    const who = c.detainee?.name ? `${c.detainee.name} (${c.detainee.booking_number})${c.cell ? ` · ${c.cell}` : ""}` : t.unidentified;
    // The whole row opens the consult; a click on its link is the link's own.
    const open = c.patient_id ? (event) => { if (!event.target.closest("a")) location.href = `/consults/${c.id}`; } : null;
    return el("tr", { class: open ? "clickable" : "", "data-consult": c.id, onclick: open },
      el("td", {}, when(c.signed_at || c.decided_at)),
      el("td", {}, open ? el("a", { href: `/consults/${c.id}` }, who) : who),
      el("td", {}, c.specialty), el("td", { class: "question" }, c.question),
      el("td", {}, el("span", { class: `badge ${c.status === "signed" ? "ok" : "danger"}` }, t[`status_${c.status}`])),
      el("td", {}, c.outcome ? t[`outcome_${c.outcome}`] : c.decision_reason), el("td", {}, c.specialist));
  }

  async function load() {
    const q = form.q.value.trim();
    history.replaceState(null, "", q ? `?q=${encodeURIComponent(q)}` : location.pathname);
    try {
      const found = await telemed.api("GET", `/api/consults/history?${new URLSearchParams({ q })}`);
      body.replaceChildren(...found.map(row));
      document.getElementById("history-empty").hidden = found.length > 0;
    } catch (error) { telemed.toast(error.message, "critical"); }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  load();
})();
