// The administration page: accounts (filter, edit, password reset, (de)activation) and organisations.
"use strict";
(() => {
  const { api, el, toast, formData, confirm, clearErrors, showError, lang } = telemed;
  const text = JSON.parse(document.getElementById("admin-text").textContent);
  const body = document.querySelector("#users tbody");
  const stateFilter = document.getElementById("user-state");
  const search = document.getElementById("user-search");
  let users = [], orgs = [];

  const orgName = (id) => {
    const org = orgs.find(o => o.id === id);
    return org ? ((lang === "zh-CN" && org.name_zh) || org.name) : id;
  };
  const stateOf = (u) => u.state;

  function actions(u) {
    const buttons = [el("button", { class: "link", "data-action": "edit", onclick: () => edit(u) }, text.action.edit),
      el("button", { class: "link", "data-action": "password", onclick: () => resetPassword(u) }, text.action.password)];
    if (u.state === "active") buttons.push(el("button", { class: "link", "data-action": "unlock", onclick: () => change(u, "unlock") }, text.action.unlock));
    const toggle = u.active ? "deactivate" : "activate";
    buttons.push(el("button", { class: `link ${u.active ? "danger-link" : ""}`, "data-action": toggle, onclick: () => change(u, toggle) }, text.action[toggle]));
    return el("td", { class: "actions" }, buttons);
  }

  function render() {
    const wanted = stateFilter.value, words = search.value.trim().toLowerCase();
    const shown = users.filter(u => (!wanted || stateOf(u) === wanted) &&
      (!words || `${u.username} ${u.display_name}`.toLowerCase().includes(words)));
    body.replaceChildren(...shown.map(u => el("tr", { "data-user": u.username },
      el("td", {}, u.username), el("td", { class: "name" }, u.display_name), el("td", {}, text.role[u.role] || u.role),
      el("td", {}, orgName(u.org_id)), el("td", {}, u.specialty || ""),
      el("td", {}, el("span", { class: `badge ${u.state === "active" ? "ok" : "warn"}` }, text.state[stateOf(u)])),
      actions(u))));
    document.getElementById("users-empty").hidden = shown.length > 0;
  }

  async function load() {
    [users, orgs] = await Promise.all([api("GET", "/api/admin/users"), api("GET", "/api/admin/orgs")]);
    document.querySelector("#orgs tbody").replaceChildren(...orgs.map(o => el("tr", {},
      el("td", {}, o.id), el("td", { class: "name" }, orgName(o.id)), el("td", {}, text.kind[o.kind] || o.kind))));
    for (const select of document.querySelectorAll(".org-select")) {
      const kept = select.value;
      select.replaceChildren(...orgs.map(o => el("option", { value: o.id }, orgName(o.id))));
      if (kept) select.value = kept;
    }
    render();
  }

  async function change(u, action) {
    if (!await confirm(text.confirm[action].replace("{name}", u.display_name))) return;
    try { await api("POST", `/api/admin/users/${u.id}/${action}`); toast(text.done[action]); }
    catch (err) { toast((err.data?.code && text.err[err.data.code]) || text.err.failed, "critical"); }
    load();
  }

  async function resetPassword(u) {
    if (!await confirm(text.confirm.password.replace("{name}", u.display_name))) return;
    try {
      const answer = await api("POST", `/api/admin/users/${u.id}/password`);
      document.getElementById("password-user").textContent = answer.username;
      document.getElementById("new-password").textContent = answer.password;
      document.getElementById("password-dialog").showModal();
    } catch (err) { toast(text.err.failed, "critical"); }
    load();
  }

  const dialog = document.getElementById("user-dialog");
  const editForm = document.getElementById("edit-form");
  let editing = null;
  function edit(u) {
    editing = u;
    clearErrors(editForm);
    document.getElementById("edit-username").textContent = u.username;
    for (const name of ["display_name", "role", "org_id"]) editForm.elements[name].value = u[name];
    editForm.elements.specialty.value = u.specialty || "";
    editForm.elements.on_duty.checked = u.on_duty;
    editForm.elements.active.checked = u.active;
    dialog.showModal();
  }
  editForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const changes = { ...formData(editForm), on_duty: editForm.elements.on_duty.checked, active: editForm.elements.active.checked };
    if (editing.active && !changes.active && !await confirm(text.confirm.deactivate.replace("{name}", editing.display_name))) return;
    try {
      await api("PATCH", `/api/admin/users/${editing.id}`, changes);
      dialog.close();
      toast(text.done.update);
      load();
    } catch (err) { showError(editForm, err, text.err); }
  });
  document.querySelectorAll(".close-dialog").forEach(b => b.addEventListener("click", () => b.closest("dialog").close()));
  document.getElementById("password-dialog").addEventListener("close", () => { document.getElementById("new-password").textContent = ""; });

  for (const [id, url, done] of [["user-form", "/api/admin/users", "create_user"], ["org-form", "/api/admin/orgs", "create_org"]]) {
    const form = document.getElementById(id);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try { await api("POST", url, formData(form)); form.reset(); clearErrors(form); toast(text.done[done]); load(); }
      catch (err) { showError(form, err, text.err); }
    });
  }
  stateFilter.addEventListener("change", () => {
    const url = new URL(location.href);
    stateFilter.value ? url.searchParams.set("state", stateFilter.value) : url.searchParams.delete("state");
    history.replaceState(null, "", url);
    render();
  });
  search.addEventListener("input", render);
  load();
})();
