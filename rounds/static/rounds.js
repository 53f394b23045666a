// Rounds by block: the blocks of the facility, then the block's detainees with what is due.
// A detainee's record opens only through the identity check above, never by tapping the list.
"use strict";
(() => {
  const root = document.getElementById("rounds");
  const labels = JSON.parse(root.dataset.labels);
  const { el, api } = telemed;

  function badge(n, label, kind = "") { return n ? el("span", { class: `badge ${kind}` }, `${label} ${n}`) : ""; }

  function row(d) {
    const doses = d.doses.map(x => `${x.medicine} ${x.dose} (${labels.slot[x.slot]})`).join("; ");
    const nothing = !d.doses.length && !d.flags && !d.abnormal_results && !d.follow_ups && !d.sick_calls && !d.watch;
    const watch = d.watch ? el("span", { class: "badge warn" }, d.watch.last_check
      ? `${labels.watch} · ${telemed.when(d.watch.last_check)}` : `${labels.watch} · ${labels.no_check}`) : "";
    return el("li", { class: "detainee", "data-testid": "detainee", tabindex: "0" },
      el("div", { class: "row" }, el("strong", {}, d.name), el("span", { class: "muted" }, `${labels.cell} ${d.cell}`)),
      el("div", { class: "row" }, badge(d.doses.length, labels.doses), badge(d.flags, labels.flags, "warn"),
        badge(d.abnormal_results, labels.results, "warn"), badge(d.follow_ups, labels.follow_ups),
        badge(d.sick_calls, labels.sick_calls), watch,
        nothing ? el("span", { class: "muted" }, labels.nothing) : ""),
      doses ? el("div", { class: "small" }, doses) : "");
  }

  let asked = 0;  // the block tapped last wins over a slower answer for one tapped before
  async function openBlock(block, button) {
    document.querySelectorAll("#blocks button").forEach(b => b.classList.toggle("primary", b === button));
    const mine = ++asked;
    const people = await api("GET", `/api/rounds/blocks/${encodeURIComponent(block)}`);
    if (mine === asked) document.getElementById("detainees").replaceChildren(...people.map(row));
  }

  document.getElementById("detainees").addEventListener("click", () => {
    telemed.toast(labels.identify_first);
    document.getElementById("identify").scrollIntoView({ block: "start" });
  });

  api("GET", "/api/rounds/blocks").then(blocks => {
    document.getElementById("blocks").replaceChildren(...blocks.map(b => {
      const button = el("button", { type: "button", class: "big", "data-block": b.block }, `${b.block} (${b.detainees})`);
      button.addEventListener("click", () => openBlock(b.block, button));
      return button;
    }));
  });
})();
