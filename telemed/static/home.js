"use strict";
(() => {
  const table = document.querySelector("#detainees tbody");
  if (table) {
    const more = document.getElementById("detainees-more");
    const labels = JSON.parse(document.getElementById("detainees").dataset.labels);
    const label = (code) => labels[code] || code;
    let query = "", last = "";
    async function load(reset) {
      if (reset) { table.replaceChildren(); last = ""; }
      const params = new URLSearchParams({ q: query, limit: 25, after: last });
      const rows = await telemed.api("GET", `/api/detainees?${params}`);
      for (const d of rows) {
        const tr = telemed.el("tr", { class: "clickable", "data-patient": d.patient_id,
          onclick: () => { location.href = d.record; } },
          telemed.el("td", {}, d.booking_number), telemed.el("td", {}, d.name), telemed.el("td", {}, label(d.sex)),
          telemed.el("td", {}, d.birth_date), telemed.el("td", {}, d.cell), telemed.el("td", {}, label(d.status)));
        table.append(tr);
        last = d.booking_number;
      }
      more.hidden = rows.length < 25;
    }
    document.getElementById("detainee-search").addEventListener("submit", (e) => {
      e.preventDefault(); query = new FormData(e.target).get("q"); load(true);
    });
    more.addEventListener("click", () => load(false));
    load(true);
  }

  const bgForm = document.getElementById("break-glass-form");
  bgForm?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = telemed.formData(bgForm);
    try {
      const grant = await telemed.api("POST", "/api/break-glass", body);
      location.href = grant.record;
    } catch (err) { telemed.toast(err.message, "critical"); }
  });

  const review = document.querySelector("#break-glass tbody");
  if (review) {
    telemed.api("GET", "/api/break-glass?pending=1").then(rows => {
      for (const g of rows) {
        const button = telemed.el("button", { "data-testid": "break-glass-reviewed", onclick: async () => {
          await telemed.api("POST", `/api/break-glass/${g.id}/review`); button.closest("tr").remove(); } },
          review.closest("table").dataset.reviewed);
        review.append(telemed.el("tr", {}, telemed.el("td", { class: "nowrap" }, telemed.when(g.created_at)),
          telemed.el("td", { class: "name" }, g.user_name), telemed.el("td", { class: "name" }, `${g.patient_name} ${g.booking_number}`),
          telemed.el("td", {}, g.reason), telemed.el("td", {}, button)));
      }
    });
  }

  const pending = document.querySelector("#accounts-pending tbody");
  if (pending) {
    const labels = JSON.parse(document.getElementById("accounts-pending").dataset.labels);
    telemed.api("GET", "/api/accounts/pending").then(rows => {
      document.getElementById("accounts-none").hidden = rows.length > 0;
      for (const u of rows) {
        const button = telemed.el("button", { class: "primary", onclick: async () => {
          try {
            await telemed.api("POST", `/api/accounts/${u.id}/approve`);
            button.replaceWith(labels.approved);
          } catch (err) { telemed.toast(err.message, "critical"); }
        } }, labels.approve);
        pending.append(telemed.el("tr", { "data-username": u.username }, telemed.el("td", {}, u.username),
          telemed.el("td", {}, u.display_name), telemed.el("td", {}, labels[u.role] || u.role),
          telemed.el("td", {}, u.org_name), telemed.el("td", {}, button)));
      }
    });
  }
})();
