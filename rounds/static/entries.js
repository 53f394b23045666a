// Rounds entries (notes, vitals, complaints, watch checks) go through the queue: sent now, or
// when the network returns.
"use strict";
const roundsQueue = (() => {
  const box = document.getElementById("queue");
  const messages = JSON.parse(box.dataset.messages);
  return sendQueue({
    store: "telemed.rounds.queue", url: "/api/rounds/entries", box,
    onSent: () => telemed.toast(messages.sent, "ok"),
    onRefused: (item, err) => telemed.toast(`${messages.refused}: ${err.message}`, "critical"),
  });
})();
