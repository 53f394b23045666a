// At the cell: notes, vitals and complaints go through the queue (sent now, or when the network
// returns); the photo is taken with the camera or uploaded.
"use strict";
(() => {
  const root = document.getElementById("at-cell");
  const patient = root.dataset.patient;
  const messages = JSON.parse(root.dataset.messages);

  document.querySelectorAll("form[data-entry]").forEach(form => form.addEventListener("submit", event => {
    event.preventDefault();
    const fields = Object.fromEntries(Object.entries(telemed.formData(form)).filter(([, v]) => v !== ""));
    roundsQueue.add({ patient_id: patient, kind: form.dataset.entry, fields });
    form.reset();
    telemed.toast(messages.queued);
  }));

  async function upload(blob) {
    const response = await fetch(`/api/rounds/photo/${patient}`, { method: "POST", body: blob, credentials: "same-origin",
      headers: { "Content-Type": blob.type || "application/octet-stream", "X-CSRF-Token": telemed.csrf } });
    if (!response.ok) { telemed.toast(messages.photo_failed, "critical"); return; }
    telemed.toast(messages.photo_saved, "ok");
    location.reload();
  }

  const file = document.getElementById("photo-file");
  file?.addEventListener("change", () => { if (file.files[0]) upload(file.files[0]); });

  const video = document.getElementById("photo-video");
  const shoot = document.getElementById("photo-shoot");
  let stream = null;
  document.getElementById("photo-camera")?.addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
    } catch (err) {
      telemed.toast(messages.no_camera, "critical");
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    shoot.hidden = false;
    await video.play();
  });
  shoot?.addEventListener("click", async () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    stream.getTracks().forEach(t => t.stop());
    video.hidden = true;
    shoot.hidden = true;
    upload(await new Promise(resolve => canvas.toBlob(resolve, "image/jpeg", 0.9)));
  });
})();
