// What is written on the mobile pages waits in this browser (localStorage) until the server has
// it: each item has a key made here and the time it was taken, so a resend after a lost answer is
// written once. One queue per kind of page (rounds entries, pill-line doses), each in its own store.
"use strict";
const sendQueue = ({ store, url, box, onSent, onRefused }) => {
  const messages = JSON.parse(box?.dataset.messages || "{}");
  let sending = false, again = false;  // an item added while sending goes right after

  function load() {
    try { return JSON.parse(localStorage.getItem(store) || "[]"); } catch (e) { return []; }
  }
  function save(items) { localStorage.setItem(store, JSON.stringify(items)); show(items); }
  function show(items = load()) {
    if (!box) return;
    box.hidden = items.length === 0;
    box.textContent = (messages.waiting || "{n}").replace("{n}", items.length);
  }
  function newKey() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");
  }
  // ``body.taken_at`` stays when given: an item sent again after a refusal keeps when it was taken.
  function add(body) {
    save([...load(), { taken_at: new Date().toISOString(), ...body, key: newKey() }]);
    flush();
  }
  // A network failure (no status), a server error or an ended session keeps the item for the next
  // try; a refusal (4xx) would be refused again, so it is shown and dropped.
  function keep(err) { return !err.status || err.status >= 500 || err.status === 401; }
  async function flush() {
    if (sending) { again = true; return; }
    sending = true;
    again = false;
    try {
      for (const item of load()) {
        let answer = null, refusal = null;
        try {
          answer = await telemed.api("POST", url, item);
        } catch (err) {
          if (keep(err)) break;
          refusal = err;
        }
        save(load().filter(i => i.key !== item.key));
        if (refusal) onRefused(item, refusal); else onSent(item, answer);
      }
    } finally {
      sending = false;
      show();
    }
    if (again) flush();
  }
  window.addEventListener("online", flush);
  setInterval(flush, 5000);
  show();
  flush();
  return { add, flush, load };
};
