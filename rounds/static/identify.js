// The identity check: the wristband's QR code read by the camera (the browser's BarcodeDetector
// where it exists, else each frame decoded by the server) or its code typed; then the photo and the
// two identifiers to compare with the person, who is confirmed (or not) by a tap.
"use strict";
const roundsIdentify = (() => {
  const root = document.getElementById("identify");
  const messages = JSON.parse(root.dataset.messages);
  const video = document.getElementById("scan-video");
  const card = document.getElementById("who-card");
  const startButton = document.getElementById("scan-start");
  const stopButton = document.getElementById("scan-stop");
  const handlers = { confirm: found => { location.href = `${found.page}?via=${found.via}`; } };
  let stream = null, timer = null, found = null;

  function show(person, via) {
    found = { ...person, via };
    const photo = document.getElementById("who-photo");
    photo.hidden = !person.photo;
    document.getElementById("who-no-photo").hidden = Boolean(person.photo);
    if (person.photo) photo.src = `${person.photo}?t=${Date.now()}`;
    else photo.removeAttribute("src");
    document.getElementById("who-name").textContent = person.name;
    document.getElementById("who-booking").textContent = person.booking_number;
    document.getElementById("who-born").textContent = person.birth_date;
    card.hidden = false;
    card.scrollIntoView({ block: "start" });
  }

  async function identify(code, method) {
    try {
      show(await telemed.api("POST", "/api/rounds/identify", { code, method }), method);
    } catch (err) {
      telemed.toast(err.status ? messages.not_found : messages.offline, "critical");
    }
  }

  async function postFrame() {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise(resolve => canvas.toBlob(resolve, "image/jpeg", 0.85));
    const response = await fetch("/api/rounds/decode", { method: "POST", body: blob, credentials: "same-origin",
      headers: { "Content-Type": "image/jpeg", "X-CSRF-Token": telemed.csrf, "Accept": "application/json" } });
    if (response.status === 422) return false;  // no code in this frame: keep looking
    stop();
    if (!response.ok) { telemed.toast(messages.not_found, "critical"); return true; }
    show(await response.json(), "scanned");
    return true;
  }

  async function look(detector) {
    if (!stream || video.readyState < 2) return;
    if (detector) {
      const codes = await detector.detect(video);
      if (codes.length) { stop(); await identify(codes[0].rawValue, "scanned"); }
    } else {
      await postFrame();
    }
  }

  async function start() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (err) {
      telemed.toast(messages.no_camera, "critical");
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    stopButton.hidden = false;
    startButton.hidden = true;
    await video.play();
    const detector = "BarcodeDetector" in window ? new BarcodeDetector({ formats: ["qr_code"] }) : null;
    const loop = async () => {
      await look(detector).catch(() => {});
      if (stream) timer = setTimeout(loop, detector ? 250 : 700);
    };
    loop();
  }

  function stop() {
    clearTimeout(timer);
    stream?.getTracks().forEach(t => t.stop());
    stream = null;
    video.hidden = true;
    stopButton.hidden = true;
    startButton.hidden = false;
  }

  startButton.addEventListener("click", start);
  stopButton.addEventListener("click", stop);
  document.getElementById("type-code").addEventListener("submit", event => {
    event.preventDefault();
    identify(event.target.elements.code.value, "typed");
  });
  document.getElementById("who-confirm").addEventListener("click", () => { card.hidden = true; handlers.confirm(found); });
  document.getElementById("who-reject").addEventListener("click", () => { card.hidden = true; found = null; });
  return { onConfirm: fn => { handlers.confirm = fn; }, current: () => found };
})();
