// The record page's adherence table: shown once the detainee has scheduled doses behind them.
"use strict";
(() => {
  const section = document.getElementById("adherence");
  if (!section) return;
  const { el, api } = telemed;
  api("GET", `/api/rounds/adherence/${section.dataset.patient}`).then(rows => {
    if (!rows.length) return;
    section.querySelector("tbody").replaceChildren(...rows.map(a => el("tr", {},
      el("td", {}, a.medicine), el("td", {}, `${a.given} / ${a.due}`), el("td", {}, a.percent ?? "—"),
      el("td", {}, a.outcomes.refused || 0), el("td", {}, a.outcomes.missed || 0))));
    section.hidden = false;
  });
})();
