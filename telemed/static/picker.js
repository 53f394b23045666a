// Type-ahead picker for any form: <input data-picker="/api/..."> becomes a combobox (WAI-ARIA 1.2)
// that asks the URL with ?q=<typed text> and lets the person choose with the mouse or the keys
// (Down/Up to move, Enter to choose, Escape to close). Attributes:
//   data-picker          the JSON endpoint; it answers a list of objects
//   data-picker-name     name of the hidden field the form posts (the chosen item's value)
//   data-picker-value    the item's key that is posted (default "code")
//   data-picker-show     comma-separated keys shown in the field once chosen (default "code,title")
//   data-picker-detail   comma-separated keys shown on a second, muted line in the list
//   data-picker-params   extra query parameters, e.g. "scope=emergency"
//   data-picker-min      characters typed before asking (default 1)
//   data-picker-empty    text shown when nothing matches
//   data-picker-invalid  message when the field is required and nothing was chosen
// The input fires "picker:select" (detail: the item) when chosen and "picker:clear" when edited.
"use strict";
const picker = (() => {
  let serial = 0;
  const fields = (item, keys) => keys.split(",").map(k => item[k.trim()]).filter(v => v !== undefined && v !== null && v !== "").join(" · ");

  function attach(input) {
    if (input.dataset.pickerReady) return;
    input.dataset.pickerReady = "1";
    const id = `picker-${++serial}`;
    const valueKey = input.dataset.pickerValue || "code";
    const show = input.dataset.pickerShow || "code,title";
    const min = Number(input.dataset.pickerMin || 1);
    const hidden = Object.assign(document.createElement("input"), { type: "hidden", name: input.dataset.pickerName || "" });
    const list = Object.assign(document.createElement("ul"), { id: `${id}-list`, className: "picker-list", hidden: true });
    list.setAttribute("role", "listbox");
    const wrap = document.createElement("span");
    wrap.className = "picker";
    input.replaceWith(wrap);
    wrap.append(input, hidden, list);
    Object.entries({ role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": list.id,
      autocomplete: "off" }).forEach(([k, v]) => input.setAttribute(k, v));
    let items = [], active = -1, timer = null, asked = 0;

    const open = (yes) => { list.hidden = !yes; input.setAttribute("aria-expanded", String(yes)); if (!yes) mark(-1); };
    function mark(index) {
      active = index;
      [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
      if (index >= 0) { input.setAttribute("aria-activedescendant", `${id}-${index}`); list.children[index].scrollIntoView({ block: "nearest" }); }
      else input.removeAttribute("aria-activedescendant");
    }
    function render() {
      list.replaceChildren(...items.map((item, i) => {
        const li = document.createElement("li");
        Object.assign(li, { id: `${id}-${i}` });
        li.setAttribute("role", "option");
        li.append(Object.assign(document.createElement("span"), { textContent: fields(item, show) }));
        if (input.dataset.pickerDetail) li.append(Object.assign(document.createElement("small"), { textContent: fields(item, input.dataset.pickerDetail) }));
        li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(i); });
        return li;
      }));
      if (!items.length && input.dataset.pickerEmpty) {
        const li = Object.assign(document.createElement("li"), { className: "picker-empty", textContent: input.dataset.pickerEmpty });
        li.setAttribute("aria-disabled", "true");
        list.append(li);
      }
      open(list.children.length > 0);
    }
    function validity() {
      input.setCustomValidity(input.required && !hidden.value ? (input.dataset.pickerInvalid || "?") : "");
    }
    function choose(index) {
      const item = items[index];
      hidden.value = item[valueKey];
      input.value = fields(item, show);
      open(false);
      validity();
      input.dispatchEvent(new CustomEvent("picker:select", { detail: item, bubbles: true }));
    }
    async function ask(text) {
      const mine = ++asked;
      const params = new URLSearchParams(input.dataset.pickerParams || "");
      params.set("q", text);
      try {
        const found = await telemed.api("GET", `${input.dataset.picker}?${params}`);
        if (mine === asked) { items = found; render(); }
      } catch (err) { if (mine === asked) { items = []; open(false); telemed.toast(err.message); } }
    }
    input.addEventListener("input", () => {
      if (hidden.value) { hidden.value = ""; input.dispatchEvent(new CustomEvent("picker:clear", { bubbles: true })); }
      validity();
      clearTimeout(timer);
      const text = input.value.trim();
      if (text.length < min) { asked++; items = []; open(false); return; }
      timer = setTimeout(() => ask(text), 200);
    });
    input.addEventListener("keydown", (e) => {
      const count = items.length;
      if (e.key === "ArrowDown" && count) { e.preventDefault(); if (list.hidden) open(true); mark((active + 1) % count); }
      else if (e.key === "ArrowUp" && count) { e.preventDefault(); if (list.hidden) open(true); mark((active - 1 + count) % count); }
      else if (e.key === "Enter" && !list.hidden && active >= 0) { e.preventDefault(); choose(active); }
      else if (e.key === "Escape" && !list.hidden) { e.preventDefault(); open(false); }
    });
    input.addEventListener("blur", () => open(false));
    input.form?.addEventListener("reset", () => { hidden.value = ""; items = []; open(false); setTimeout(validity); });
    validity();
    // For a form that fills the picker itself (an existing entry being edited).
    input.pickerSet = (item) => { items = [item]; choose(0); };
  }

  function scan(root = document) { root.querySelectorAll("input[data-picker]").forEach(attach); }
  scan();
  return { attach, scan };
})();
