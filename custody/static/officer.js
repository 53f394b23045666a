"use strict";
// The custody officer's tasks: whom to bring, where and when; marked brought, refused or
// unavailable; escorts step through departed, arrived and returned. New tasks arrive pushed.
(() => {
  const root = document.getElementById("officer");
  const L = JSON.parse(root.dataset.labels);
  const list = document.getElementById("tasks");
  const el = telemed.el;
  let state = "open";
  const timers = [];

  const place = (t) => (t.place_known ? L.place[t.place] : t.place);
  const elapsed = (iso) => {
    const s = Math.max(0, Math.floor((Date.now() - new Date(iso)) / 1000));
    const pad = (n) => String(n).padStart(2, "0");
    return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
  };

  const photo = (d) => (d.photo ? el("img", { class: "photo", src: `/api/custody/photo/${d.patient_id}`, alt: d.name, "data-testid": "photo" }) : "");

  function actions(t) {
    if (t.state !== "pending" && !(t.kind === "escort" && t.step && !["returned", "cancelled"].includes(t.step))) return [];
    if (t.kind === "escort" && t.step === "departed") return [["arrived", "referral"]];
    if (t.kind === "escort" && t.step === "arrived") return [["returned", "referral"]];
    const first = t.kind === "escort" ? [["departed", "referral"]] : [["brought", "task"]];
    return [...first, ["refused", "task"], ["unavailable", "task"]];
  }

  async function act(t, action, target) {
    if (!(await telemed.confirm(L.confirm.replace("{action}", L.action[action]).replace("{name}", t.name)))) return;
    const url = target === "task" ? `/api/custody/tasks/${t.id}/${action}` : `/api/custody/referrals/${t.referral}/${action}`;
    try { await telemed.api("POST", url); load(); } catch (err) { telemed.toast(L.failed, "critical"); }
  }

  function card(t) {
    const badges = [el("span", { class: "badge" }, L.kind[t.kind])];
    if (t.urgency) badges.push(el("span", { class: `badge ${t.urgency === "emergency" ? "danger" : t.urgency === "urgent" ? "warn" : ""}` }, L.urgency[t.urgency]));
    if (t.security_level) badges.push(el("span", { class: `badge ${t.security_level === "high" ? "danger" : ""}`, "data-testid": "level" }, L.level[t.security_level]));
    const status = t.kind === "escort" && t.step && t.state !== "refused" && t.state !== "unavailable" ? L.step[t.step] : L.state[t.state];
    const li = el("li", { class: `task card task-${t.state}`, "data-task": t.id, "data-testid": "task" },
      el("div", { class: "row task-head" }, ...badges, el("span", { class: "spacer" }), el("b", { "data-testid": "task-status" }, status)),
      el("div", { class: "task-who row" }, photo(t), el("span", {}, el("b", { class: "name" }, t.name), el("br"),
        `${L.booking} ${t.booking_number} · ${L.cell} ${t.cell}`)),
      el("div", {}, `${L.due}: `, el("b", {}, telemed.when(t.due)), ` · ${L.place_label}: `, el("b", { "data-testid": "place" }, place(t))),
      t.note ? el("div", { class: "muted" }, t.note) : "",
      t.done_at ? el("div", { class: "muted" }, `${L.done_at}: ${telemed.when(t.done_at)}`) : "");
    if (t.urgency === "emergency" && t.step === "requested") {
      const clock = el("b", { class: "timer", "data-testid": "timer" }, elapsed(t.decided_at));
      timers.push(setInterval(() => { clock.textContent = elapsed(t.decided_at); }, 1000));
      li.append(el("div", { class: "error" }, `${L.since_decision}: `, clock));
    }
    const buttons = actions(t).map(([action, target]) => el("button", {
      class: ["brought", "departed", "arrived", "returned"].includes(action) ? "primary" : "",
      "data-action": action, onclick: () => act(t, action, target) }, L.action[action]));
    if (buttons.length) li.append(el("div", { class: "row task-actions" }, ...buttons));
    return li;
  }

  async function load() {
    timers.splice(0).forEach(clearInterval);
    const rows = await telemed.api("GET", `/api/custody/tasks?state=${state}`);
    list.replaceChildren(...(rows.length ? rows.map(card) : [el("li", { class: "muted", "data-testid": "no-tasks" }, L.none)]));
  }

  document.querySelectorAll(".tab").forEach(tab => tab.addEventListener("click", () => {
    document.querySelectorAll(".tab").forEach(t => t.classList.toggle("active", t === tab));
    state = tab.dataset.state;
    load();
  }));

  const post = document.getElementById("post-form");
  telemed.api("GET", "/api/custody/post").then(p => { post.elements.block.value = p.block; });
  post.addEventListener("submit", async (e) => {
    e.preventDefault();
    await telemed.api("POST", "/api/custody/post", { block: post.elements.block.value });
    load();
  });

  const roster = document.querySelector("#roster tbody");
  document.getElementById("roster-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const rows = await telemed.api("GET", `/api/custody/roster?q=${encodeURIComponent(new FormData(e.target).get("q"))}`);
    roster.replaceChildren(...rows.map(d => el("tr", {}, el("td", {}, photo(d)), el("td", { class: "name" }, d.name), el("td", {}, d.booking_number), el("td", {}, d.cell))));
  });

  telemed.on("custody.task", () => { if (state === "open") load(); });
  load();
})();
