// The notifications page: dismiss one or all; the page is reloaded from the server so what it
// shows is what is kept.
"use strict";
(() => {
  const failed = () => telemed.toast(document.querySelector("[data-failed]").dataset.failed, "critical");
  document.querySelectorAll("[data-notice] .notice-dismiss").forEach(button => button.addEventListener("click", () => {
    const key = button.closest("[data-notice]").dataset.notice;
    telemed.api("POST", `/api/notifications/${key}/dismiss`).then(() => location.reload(), failed);
  }));
  document.getElementById("dismiss-all")?.addEventListener("click", () => {
    telemed.api("POST", "/api/notifications/dismiss-all").then(() => location.reload(), failed);
  });
})();
