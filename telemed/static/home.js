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
          onclick: () => { location.href = `/detainees/${d.patient_id}`; } },
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
      await telemed.api("POST", "/api/break-glass", body);
      location.href = `/detainees/${body.patient_id}`;
    } catch (err) { telemed.toast(err.message, "critical"); }
  });

  const review = document.querySelector("#break-glass tbody");
  if (review) {
    telemed.api("GET", "/api/break-glass?pending=1").then(rows => {
      for (const g of rows) {
        const button = telemed.el("button", { onclick: async () => {
          await telemed.api("POST", `/api/break-glass/${g.id}/review`); button.closest("tr").remove(); } }, "✓");
        review.append(telemed.el("tr", {}, telemed.el("td", {}, g.created_at), telemed.el("td", {}, g.user),
          telemed.el("td", {}, g.patient_id), telemed.el("td", {}, g.reason), telemed.el("td", {}, button)));
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
          telemed.el("td", {}, u.org_id), telemed.el("td", {}, button)));
      }
    });
  }

  const users = document.querySelector("#users tbody");
  if (users) {
    const labels = JSON.parse(document.getElementById("users").dataset.labels);
    const label = (code) => labels[code] || code;
    async function loadAdmin() {
      const [userRows, orgRows] = await Promise.all([telemed.api("GET", "/api/admin/users"), telemed.api("GET", "/api/admin/orgs")]);
      users.replaceChildren(...userRows.map(u => {
        const actions = u.state === "pending" ? [] : [u.active ? "deactivate" : "activate", "unlock"];
        const buttons = actions.map(action => telemed.el("button", { class: "link", onclick: async () => {
          await telemed.api("POST", `/api/admin/users/${u.id}/${action}`); loadAdmin(); } }, label(action)));
        return telemed.el("tr", {}, telemed.el("td", {}, u.username), telemed.el("td", {}, u.display_name),
          telemed.el("td", {}, label(u.role)), telemed.el("td", {}, u.org_id),
          telemed.el("td", {}, label(u.state)), telemed.el("td", {}, buttons));
      }));
      document.querySelector("#orgs tbody").replaceChildren(...orgRows.map(o => telemed.el("tr", {},
        telemed.el("td", {}, o.id), telemed.el("td", {}, `${o.name} ${o.name_zh}`), telemed.el("td", {}, label(o.kind)))));
      document.getElementById("org-select").replaceChildren(...orgRows.map(o => telemed.el("option", { value: o.id }, o.name)));
    }
    for (const [id, url] of [["user-form", "/api/admin/users"], ["org-form", "/api/admin/orgs"]]) {
      const form = document.getElementById(id);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        try { await telemed.api("POST", url, telemed.formData(form)); form.reset(); loadAdmin(); }
        catch (err) { telemed.toast(err.message, "critical"); }
      });
    }
    loadAdmin();
  }
})();
