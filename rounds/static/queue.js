// Entries taken on rounds wait in this browser (localStorage) until the server has them: each has
// a key made here and the time it was taken, so a resend after a lost answer is written once.
"use strict";
const roundsQueue = (() => {
  const STORE = "telemed.rounds.queue";
  const box = document.getElementById("queue");
  const messages = JSON.parse(box?.dataset.messages || "{}");
  let sending = false;

  function load() {
    try { return JSON.parse(localStorage.getItem(STORE) || "[]"); } catch (e) { return []; }
  }
  function save(items) { localStorage.setItem(STORE, JSON.stringify(items)); show(items); }
  function show(items = load()) {
    if (!box) return;
    box.hidden = items.length === 0;
    box.textContent = (messages.waiting || "{n}").replace("{n}", items.length);
  }
  function newKey() {
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), b => b.toString(16).padStart(2, "0")).join("");
  }
  function add(patientId, kind, fields) {
    save([...load(), { key: newKey(), patient_id: patientId, kind, fields, taken_at: new Date().toISOString() }]);
    flush();
  }
  // A network failure (no status), a server error or an ended session keeps the entry for the next
  // try; a refusal (4xx) would be refused again, so it is shown and dropped.
  function keep(err) { return !err.status || err.status >= 500 || err.status === 401 || err.status === 503; }
  async function flush() {
    if (sending) return;
    sending = true;
    try {
      for (const item of load()) {
        try {
          await telemed.api("POST", "/api/rounds/entries", item);
          telemed.toast(messages.sent, "ok");
        } catch (err) {
          if (keep(err)) break;
          telemed.toast(`${messages.refused}: ${err.message}`, "critical");
        }
        save(load().filter(i => i.key !== item.key));
      }
    } finally {
      sending = false;
      show();
    }
  }
  window.addEventListener("online", flush);
  setInterval(flush, 5000);
  show();
  flush();
  return { add, flush, load };
})();
