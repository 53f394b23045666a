// One consult's page: the signed note and what it produced, as the room shows them.
"use strict";
(() => {
  const box = document.getElementById("items");
  if (!box) return;
  window.consultItems.bind(JSON.parse(document.getElementById("room-config").textContent));
  window.consultItems.load(box);
})();
