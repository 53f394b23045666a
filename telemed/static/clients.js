// Registered clients: a revocation is asked for in the page's own dialog before it is sent.
"use strict";
document.querySelectorAll("form.revoke-client").forEach(form => {
  form.addEventListener("submit", async event => {
    if (form.dataset.confirmed) return;
    event.preventDefault();
    if (await telemed.confirm(form.dataset.confirm)) {
      form.dataset.confirmed = "1";
      form.requestSubmit();
    }
  });
});
