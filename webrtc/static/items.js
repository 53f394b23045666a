// Shared items and call statistics of a consult, rendered beside the video.
"use strict";
window.consultItems = (() => {
  let cfg = null, t = null;
  const el = (...args) => telemed.el(...args);

  function text(attachment) {
    if (attachment.data) {
      const bytes = Uint8Array.from(atob(attachment.data), c => c.charCodeAt(0));
      return el("pre", { class: "doc" }, new TextDecoder().decode(bytes));
    }
    if (attachment.url) {
      return /^(video|audio)\//.test(attachment.contentType || "") && attachment.url.includes("/recording/")
        ? el("a", { href: attachment.url, download: "" }, attachment.title || attachment.url)
        : el("a", { href: attachment.url, target: "_blank", rel: "noopener" }, attachment.title || attachment.url);
    }
    return "";
  }

  function codeText(concept) {
    return concept?.text || concept?.coding?.map(c => c.display || c.code).join(", ") || "";
  }

  function observed(resource) {  // as written: 4.1 mmol/L, <0.5 mg/L, 1-5 /[HPF], 1:128
    const amount = (q) => `${q?.comparator || ""}${q?.value ?? ""}`;
    const q = resource.valueQuantity, range = resource.valueRange, ratio = resource.valueRatio;
    if (q) return `${amount(q)} ${q.unit || q.code || ""}`;
    if (range) return `${amount(range.low)}-${amount(range.high)} ${range.high?.unit || ""}`;
    if (ratio) return `${amount(ratio.numerator)}:${amount(ratio.denominator)}`;
    return resource.valueString || codeText(resource.valueCodeableConcept);
  }

  function describe(resource) {
    if (!resource) return "";
    switch (resource.resourceType) {
      case "Observation": {
        const flag = resource.interpretation?.[0]?.coding?.[0]?.code;
        // What must be read with the value: its status and its specimen's conditions (haemolysed ...).
        const marks = [resource.status, ...(resource.contained || []).flatMap(c => (c.condition || [])
          .flatMap(x => x.coding || []).map(k => k.code))].map(k => t.marks[k]).filter(Boolean);
        return el("span", {}, `${codeText(resource.code)}: `, el("b", { class: flag ? `flag-${flag}` : "" }, observed(resource)),
          ...marks.map(m => el("span", { class: "badge mark" }, m)),
          " ", el("span", { class: "muted" }, resource.effectiveDateTime || ""));
      }
      case "DiagnosticReport":
        return el("span", {}, `${codeText(resource.code)}: ${resource.conclusion || ""}`);
      case "DocumentReference":
        return el("div", {}, codeText(resource.type), " ", resource.description || "",
          ...(resource.content || []).map(c => text(c.attachment)));
      case "Condition": return el("span", {}, codeText(resource.code));
      case "MedicationRequest":
        return el("span", {}, `${codeText(resource.medicationCodeableConcept)} — ${resource.dosageInstruction?.[0]?.text || ""}`);
      default: return resource.resourceType;
    }
  }

  async function load(box) {
    let items = [];
    try { items = await telemed.api("GET", `/api/consults/${cfg.consult_id}/items`); }
    catch (error) { box.replaceChildren(el("p", { class: "error" }, error.message)); return; }
    box.replaceChildren(items.length ? el("ul", { class: "items" }, items.map(item => el("li", { "data-type": item.type },
      el("span", { class: "badge" }, item.type), item.produced ? el("span", { class: "badge ok" }, t.produced) : "",
      " ", describe(item.resource)))) : el("p", { class: "muted" }, t.no_items));
  }

  async function stats(box) {
    const data = await telemed.api("GET", `/api/consults/${cfg.consult_id}/stats`);
    box.replaceChildren(el("table", { class: "list", "data-testid": "stats-table" },
      el("thead", {}, el("tr", {}, ["", t.rtt, t.bitrate, t.fps, t.loss].map(h => el("th", {}, h)))),
      el("tbody", {}, data.participants.map(p => el("tr", {}, el("td", {}, p.name), el("td", {}, p.rtt_ms ?? "–"),
        el("td", {}, p.bitrate_kbps ?? "–"), el("td", {}, p.frame_rate ?? "–"), el("td", {}, p.loss_percent ?? "–"))))));
  }

  return { bind: (config, strings) => { cfg = config; t = strings; }, load, stats };
})();
