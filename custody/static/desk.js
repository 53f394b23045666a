"use strict";
// The doctor's desk: today's calls to the clinic (who is on the way), and outside referrals from
// the decision to the return, with an emergency's clock from decision to departure.
(() => {
  const L = JSON.parse(document.getElementById("desk").dataset.labels);
  const el = telemed.el;
  const timers = [];
  const elapsed = (from, to) => {
    const s = Math.max(0, Math.floor(((to ? new Date(to) : Date.now()) - new Date(from)) / 1000));
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  };

  async function loadCalls() {
    const rows = await telemed.api("GET", "/api/custody/calls");
    const body = document.querySelector("#calls-table tbody");
    body.replaceChildren(...(rows.length ? rows.map(t => el("tr", { "data-task": t.id },
      el("td", { class: "nowrap" }, telemed.when(t.due)), el("td", { class: "name" }, t.name), el("td", {}, t.booking_number),
      el("td", {}, t.cell), el("td", {}, L.kind[t.kind]), el("td", {}, t.place_known ? L.place[t.place] : t.place),
      el("td", { "data-testid": "call-state" }, el("span", { class: `badge ${t.state === "brought" ? "ok" : t.state === "pending" ? "" : "warn"}` }, L.state[t.state]))))
      : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, L.calls_none))]));
  }

  async function post(url, body) {
    try { await telemed.api("POST", url, body); loadReferrals(); } catch (err) { telemed.toast(L.failed, "critical"); }
  }

  const summaryForm = document.getElementById("summary-form");
  let summaryFor = "";
  summaryForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const response = await fetch(`/api/custody/referrals/${summaryFor}/summary`, {
      method: "POST", body: new FormData(summaryForm), headers: { "X-CSRF-Token": telemed.csrf }, credentials: "same-origin" });
    if (!response.ok) { telemed.toast(L.failed, "critical"); return; }
    summaryForm.hidden = true;
    summaryForm.reset();
    loadReferrals();
  });

  function actions(r) {
    const next = { requested: "departed", departed: "arrived", arrived: "returned" }[r.step];
    const cell = el("td", { class: "row" });
    if (next) cell.append(el("button", { "data-action": next, onclick: () => post(`/api/custody/referrals/${r.id}/${next}`) }, L.action[next]));
    if (r.step === "requested") cell.append(el("button", { class: "danger", "data-action": "cancel", onclick: async () => {
      if (await telemed.confirm(L.confirm_cancel.replace("{name}", r.name))) post(`/api/custody/referrals/${r.id}/cancel`);
    } }, L.cancel));
    if (r.has_summary) cell.append(el("a", { href: `/api/custody/referrals/${r.id}/summary`, target: "_blank", "data-testid": "summary-link" }, L.view_summary));
    else if (["arrived", "returned"].includes(r.step)) cell.append(el("button", { "data-action": "summary", onclick: () => {
      summaryFor = r.id; summaryForm.hidden = false; summaryForm.scrollIntoView();
    } }, L.attach));
    return cell;
  }

  function stage(r) {
    const td = el("td", { "data-testid": "referral-step" }, L.step[r.step]);
    if (r.urgency !== "emergency" || r.step === "cancelled") return td;
    const clock = el("b", { class: "timer", "data-testid": "timer" }, elapsed(r.decided_at, r.departed_at));
    if (!r.departed_at) timers.push(setInterval(() => { clock.textContent = elapsed(r.decided_at); }, 1000));
    td.append(el("br"), el("span", { class: r.departed_at ? "muted" : "error", title: L.minutes }, clock));
    return td;
  }

  async function loadReferrals() {
    timers.splice(0).forEach(clearInterval);
    const rows = await telemed.api("GET", "/api/custody/referrals");
    const body = document.querySelector("#referrals-table tbody");
    body.replaceChildren(...(rows.length ? rows.map(r => el("tr", { "data-referral": r.id, class: r.urgency === "emergency" ? "emergency" : "" },
      el("td", { class: "nowrap" }, telemed.when(r.decided_at)),
      el("td", {}, el("span", { class: "name" }, r.name), el("br"), el("small", { class: "muted" }, `${r.booking_number} · ${r.cell}`)),
      el("td", {}, el("span", { class: `badge ${r.urgency === "emergency" ? "danger" : r.urgency === "urgent" ? "warn" : ""}` }, L.urgency[r.urgency])),
      el("td", {}, `${r.hospital} · ${r.department}`, el("br"), el("small", { class: "muted" }, r.reason || "")),
      el("td", {}, L.level[r.security_level]), stage(r), actions(r)))
      : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, L.referrals_none))]));
  }

  const form = document.getElementById("referral-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = telemed.formData(form);
    if (!body.leave_at) delete body.leave_at;
    try {
      await telemed.api("POST", "/api/custody/referrals", body);
      form.reset();
      document.getElementById("new-referral").open = false;
      loadReferrals();
    } catch (err) { telemed.showError(form, err, { failed: L.failed }); }
  });

  loadCalls();
  loadReferrals();
})();
