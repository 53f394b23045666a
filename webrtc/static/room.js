// The consult room: one RTCPeerConnection to the server's relay (or, where the media server
// says "receive: separate", one for our own media and one it offers for the others' media),
// signaling and heartbeat over a WebSocket, a rejoin with fresh connections whenever the path dies.
"use strict";
(() => {
  const cfg = JSON.parse(document.getElementById("room-config").textContent);
  const t = JSON.parse(document.getElementById("room-strings").textContent);
  const $ = (id) => document.getElementById(id);
  const SLOTS = 2, HEARTBEAT_MS = 1000, DEAD_MS = 5000, CLOSED = ["signed", "declined"];
  const remote = [...Array(SLOTS)].map((_, i) => ({ stream: new MediaStream(), video: $(`remote-${i}`) }));
  remote.forEach(r => { r.video.srcObject = r.stream; });
  let ws = null, pc = null, local = null, beat = null, lastPong = 0, leaving = false, iceServers = cfg.ice_servers;
  let receive = "same", receiving = null;  // see the welcome message
  let retryMs = 1000;  // grows while the room refuses us (e.g. the consult is signed), back to 1 s once in
  let names = {};

  function send(message) { if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message)); }

  async function openCamera() {
    try {
      local = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
      $("local").srcObject = local;
    } catch (error) {
      telemed.toast(`${t.camera_error}: ${error.message}`, "critical");
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${scheme}://${location.host}/ws/consults/${cfg.consult_id}`);
    ws.onopen = () => { retryMs = 1000; lastPong = Date.now(); beat = setInterval(heartbeat, HEARTBEAT_MS); };
    ws.onmessage = (event) => handle(JSON.parse(event.data));
    ws.onclose = () => { if (!leaving) rejoin(); };
  }

  function heartbeat() {
    if (Date.now() - lastPong > DEAD_MS) { rejoin(); return; }
    send({ type: "ping", t: Date.now() });
  }

  function rejoin() {
    clearInterval(beat);
    if (leaving) return;
    if (ws) { ws.onclose = null; ws.close(); }
    if (pc) pc.close();
    receiving?.close();
    pc = receiving = null;
    remote.forEach(r => r.stream.getTracks().forEach(track => r.stream.removeTrack(track)));
    $("room-state").textContent = t.reconnecting;
    // The room refuses a signed consult: ask once why we are out before knocking again.
    telemed.api("GET", `/api/consults/${cfg.consult_id}`).then(c => { if (CLOSED.includes(c.status)) showClosed(); }, () => {});
    setTimeout(() => { if (!leaving) connect(); }, retryMs);
    retryMs = Math.min(retryMs * 2, 30000);
  }

  // The consult is signed (or declined): no call any more, the page shows the signed note.
  function showClosed() {
    if ($("room").hidden) return;
    stopCall();
    $("room").hidden = true;
    $("quality").hidden = true;
    $("rec").hidden = true;
    $("closed").hidden = false;
    $("room-state").textContent = t.closed;
    $("room-state").className = "badge";
    window.consultItems.load($("closed-items"));
  }

  function stopCall() {
    leaving = true;
    clearInterval(beat);
    if (ws) { ws.onclose = null; ws.close(); }
    pc?.close();
    receiving?.close();
    local?.getTracks().forEach(track => track.stop());
  }

  function handle(message) {
    lastPong = Date.now();  // any message proves the path alive
    if (message.type === "welcome") { iceServers = message.ice_servers; receive = message.receive || "same"; }
    else if (message.type === "media-offer") accept(message.sdp, message.renegotiate);
    else if (message.type === "state") showState(message);
    else if (message.type === "answer") pc && pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
    else if (message.type === "chat") showChat(message);
    else if (message.type === "quality") showQuality(message.samples);
    else if (message.type === "closed") showClosed();
  }

  function showState(state) {
    const live = state.state === "live";
    // Once the call has begun, a missing side is someone who left or dropped: say who and how.
    const gone = state.call_started ? state.absent.filter(a => a.user_id !== cfg.user_id) : [];
    const goneText = gone.map(a => `${a.name} ${a.how === "dropped" ? t.peer_dropped : t.peer_left}`).join("; ");
    $("room-state").textContent = live ? t.live : goneText || t.waiting;
    $("room-state").className = `badge ${live ? "ok" : gone.length ? "danger" : "warn"}`;
    $("waiting").hidden = live;
    $("waiting-title").textContent = gone.length ? goneText : t.waiting;
    $("waiting-for").textContent = `${t.waiting_for}: ${state.waiting_for.map(w => t[w] || w).join(", ")}`;
    $("rec").hidden = !state.recording;
    names = Object.fromEntries(state.participants.map(p => [p.user_id, p.name]));
    $("participants").textContent = `${t.in_call}: ${state.participants.map(p => p.name).join(", ")}`;
    state.slots.forEach((userId, i) => {
      $(`remote-${i}-name`).textContent = userId ? names[userId] || "" : "";
      $(`remote-${i}`).closest("figure").classList.toggle("empty", !userId);  // no frozen last picture
    });
    if (live && !pc) negotiate();
  }

  async function negotiate() {
    pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    const mine = pc;
    // The slot layout the server expects: own audio+video (sendrecv), then receive-only slots;
    // or, when the others' media comes on a connection of its own, only our own media.
    const same = receive === "same";
    const audio = local?.getAudioTracks()[0], video = local?.getVideoTracks()[0];
    pc.addTransceiver(audio || "audio", { direction: audio ? (same ? "sendrecv" : "sendonly") : (same ? "recvonly" : "inactive") });
    pc.addTransceiver(video || "video", { direction: video ? (same ? "sendrecv" : "sendonly") : (same ? "recvonly" : "inactive") });
    for (let i = 1; same && i < SLOTS; i++) {
      pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addTransceiver("video", { direction: "recvonly" });
    }
    pc.ontrack = showTrack;
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);  // the server's aiortc takes no trickled candidates: send them all at once
    if (pc === mine) send({ type: "offer", sdp: pc.localDescription.sdp });
  }

  function showTrack(event) {
    const slot = remote[Math.floor(Number(event.transceiver.mid) / 2)];
    if (!slot) return;
    slot.stream.getTracks().filter(x => x.kind === event.track.kind).forEach(x => slot.stream.removeTrack(x));
    slot.stream.addTrack(event.track);
  }

  // The media server's own offer: the others' media, a pair per slot. A new one (somebody came
  // or went) replaces the connection; a renegotiation (a slot switched to a rejoined
  // participant) is answered on the same connection, whose picture goes on.
  async function accept(sdp, renegotiate) {
    if (renegotiate && receiving) {
      const same = receiving;
      await same.setRemoteDescription({ type: "offer", sdp });
      await same.setLocalDescription(await same.createAnswer());
      if (receiving === same) send({ type: "media-answer", sdp: same.localDescription.sdp });
      return;
    }
    const old = receiving;
    const mine = receiving = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    mine.ontrack = showTrack;
    await mine.setRemoteDescription({ type: "offer", sdp });
    await mine.setLocalDescription(await mine.createAnswer());
    await gathered(mine);
    if (receiving === mine) send({ type: "media-answer", sdp: mine.localDescription.sdp });
    old?.close();
  }

  function gathered(connection) {
    if (connection.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(resolve => {
      const done = () => { if (connection.iceGatheringState === "complete") resolve(); };
      connection.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000);  // send what we have rather than wait forever
    });
  }

  // The frame rate of the video this page receives, as the browser decodes it (the same on
  // every media server: Janus reports none); null before any arrives.
  async function inboundFps() {
    const connection = receiving || pc;
    if (!connection) return null;
    const rates = [];
    (await connection.getStats()).forEach(r => {
      if (r.type === "inbound-rtp" && r.kind === "video" && r.framesPerSecond !== undefined) rates.push(r.framesPerSecond);
    });
    return rates.length ? Math.max(...rates) : null;
  }

  async function showQuality(samples) {
    const mine = samples.find(s => s.user_id === cfg.user_id);
    if (!mine) return;
    const fps = await inboundFps().catch(() => null);
    if (fps !== null) send({ type: "frames", fps });  // kept with the call's statistics
    const total = (mine.packets_lost || 0) + (mine.packets_received || 0);
    const loss = total ? 100 * (mine.packets_lost || 0) / total : 0;
    const rtt = mine.rtt_ms || 0;
    const level = loss > 5 || rtt > 400 ? "poor" : loss > 1 || rtt > 200 ? "fair" : "good";
    const badge = $("quality");
    badge.textContent = `${t.quality}: ${t[level]}`;
    badge.className = `badge ${{ good: "ok", fair: "warn", poor: "danger" }[level]}`;
    badge.title = `${t.rtt} ${rtt} ms · ${t.loss} ${loss.toFixed(1)}% · ${t.fps} ${fps ?? "–"} · ${t.bitrate} ${mine.bitrate_kbps ?? "–"} kbit/s`;
  }

  function showChat(message) {
    const when = telemed.when(message.at, cfg.timezone).slice(-5);  // the hour and minute
    $("chat-log").append(telemed.el("li", {}, telemed.el("b", {}, `${message.name} `), telemed.el("span", { class: "muted" }, when), " ", message.text));
    $("chat-log").scrollTop = 1e9;
  }

  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    send({ type: "chat", text: event.target.text.value });
    event.target.reset();
  });

  $("mute").addEventListener("click", () => toggle("audio", "mute", t.mute, t.unmute));
  $("camera").addEventListener("click", () => toggle("video", "camera", t.camera_off, t.camera_on));
  function toggle(kind, button, offLabel, onLabel) {
    const track = local?.getTracks().find(x => x.kind === kind);
    if (!track) return;
    track.enabled = !track.enabled;
    $(button).textContent = track.enabled ? offLabel : onLabel;
    $(button).classList.toggle("active", !track.enabled);
  }
  $("leave").addEventListener("click", () => {
    stopCall();
    location.href = "/consults";
  });

  document.querySelectorAll("[data-tab]").forEach(button => button.addEventListener("click", () => {
    document.querySelectorAll("[data-tab]").forEach(b => b.classList.toggle("active", b === button));
    document.querySelectorAll("[data-pane]").forEach(p => { p.hidden = p.dataset.pane !== button.dataset.tab; });
    if (button.dataset.tab === "stats") loadStats();
    if (button.dataset.tab === "items") loadItems();
  }));

  window.consultItems.bind(cfg);
  const loadItems = () => window.consultItems.load($("items"));
  const loadStats = () => window.consultItems.stats($("stats"));

  async function loadConsult() {
    const consult = await telemed.api("GET", `/api/consults/${cfg.consult_id}`);
    const who = consult.detainee?.name ? `${consult.detainee.name} · ` : "";
    $("consult-title").textContent = `${who}${consult.specialty} — ${consult.question}`;
    const custody = $("custody-form");
    if (custody && consult.custody.recorded) {
      custody.officer_present.checked = !!consult.custody.officer_present;
      custody.security_note.value = consult.custody.security_note || "";
    }
  }

  $("custody-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    await telemed.api("POST", `/api/consults/${cfg.consult_id}/custody`, {
      consult_consent: form.consult_consent.checked, recording_consent: form.recording_consent.checked,
      officer_present: form.officer_present.checked, security_note: form.security_note.value,
    }).then(() => { telemed.toast(t.saved); send({ type: "recheck" }); }, (error) => telemed.toast(error.message, "critical"));
  });

  async function setUpInvite(form) {
    const options = await telemed.api("GET", "/api/consult-options");
    const people = options.hospitals.flatMap(h => h.specialists.map(s => ({ ...s, hospital: h })))
      .filter(s => s.id !== cfg.user_id);
    form.user_id.replaceChildren(...people.map(s => telemed.el("option", { value: s.id },
      `${s.name} · ${s.specialty || ""} · ${telemed.lang === "zh-CN" && s.hospital.name_zh ? s.hospital.name_zh : s.hospital.name}`)));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      telemed.api("POST", `/api/consults/${cfg.consult_id}/invite`, { user_id: Number(form.user_id.value), kind: form.kind.value })
        .then(() => telemed.toast(t.invited), (error) => telemed.toast(error.message, "critical"));
    });
  }

  loadConsult().catch(error => telemed.toast(error.message, "critical"));
  if (cfg.closed) { leaving = true; window.consultItems.load($("closed-items")); return; }
  if ($("invite-form")) setUpInvite($("invite-form")).catch(error => telemed.toast(error.message, "critical"));
  document.addEventListener("consult:signed", showClosed);  // signed on this page (closing.js)
  loadItems();
  // The signed advice appears beside the video the moment the specialist signs; the room closes.
  telemed.on("consult.signed", (message) => { if (message.consult_id === cfg.consult_id) showClosed(); });
  openCamera().then(() => { if (!leaving) connect(); });
})();
