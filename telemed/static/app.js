// Shared browser helpers: JSON calls with the CSRF token, translated strings, pushed events.
"use strict";
const telemed = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const lang = document.querySelector('meta[name="lang"]')?.content || "zh-CN";
  const timeZone = document.querySelector('meta[name="timezone"]')?.content || "UTC";
  async function api(method, url, body) {
    const init = { method, headers: { "Accept": "application/json", "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { error: text }; }
    if (!response.ok) {
      const message = data?.error || data?.issue?.map(i => i.diagnostics).join("; ") || response.statusText;
      throw Object.assign(new Error(message), { status: response.status, data });
    }
    return data;
  }

  // A toast: plain ones fade; a notification (one with a link, or a critical one) stays until
  // dismissed, and one that rings keeps ringing until dismissed or followed. ``notice``: the key
  // of the stored notification, which closing the pop-up dismisses too (telemed/notifications.py).
  function toast(text, kind = "", { link = "", ring = false, notice = "" } = {}) {
    const box = document.createElement("div");
    box.className = `toast ${kind}${ring ? " ringing" : ""}`;
    if (notice) box.dataset.notice = notice;
    box.setAttribute("role", kind === "critical" ? "alert" : "status");
    const body = link ? Object.assign(document.createElement("a"), { href: link, className: "toast-link" }) : document.createElement("span");
    body.textContent = text;
    const close = Object.assign(document.createElement("button"), { type: "button", className: "toast-close", textContent: "✕" });
    close.setAttribute("aria-label", document.documentElement.lang === "en" ? "Dismiss" : "关闭");
    const stopRinging = ring ? ringer() : () => {};
    const dismiss = () => { stopRinging(); box.remove(); };
    box.addEventListener("dismissed", dismiss);  // taken down from another tab
    close.addEventListener("click", () => {
      dismiss();
      if (notice) api("POST", `/api/notifications/${notice}/dismiss`).then(body => bell(body.unread), () => {});
    });
    body.addEventListener("click", stopRinging);
    box.append(body, close);
    document.getElementById("toasts").appendChild(box);
    if (kind !== "critical" && !link) setTimeout(dismiss, 6000);
    return box;
  }

  // Two short tones every two seconds, for as long as the notification is up.
  function ringer() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return () => {};
    const audio = new Context();
    const beep = (at) => {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, at);
      gain.gain.exponentialRampToValueAtTime(0.001, at + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(at); osc.stop(at + 0.25);
    };
    const ring = () => { beep(audio.currentTime); beep(audio.currentTime + 0.35); };
    ring();
    const timer = setInterval(ring, 2000);
    return () => { clearInterval(timer); audio.close(); };
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== undefined && value !== null) node.setAttribute(key, value);
    }
    for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
    return node;
  }

  const handlers = {};
  function on(type, handler) { (handlers[type] ||= []).push(handler); }

  // The header's bell: how many notifications are not yet dismissed.
  function bell(unread) {
    const count = document.querySelector(".bell .bell-count");
    if (!count) return;
    count.textContent = unread > 0 ? String(unread) : "";
    count.parentElement.classList.toggle("unread", unread > 0);
  }
  const unreadNow = () => Number(document.querySelector(".bell .bell-count")?.textContent || 0);
  on("notice.dismissed", message => {
    const shown = [...document.querySelectorAll("#toasts .toast[data-notice]")]
      .filter(box => message.notice === null || box.dataset.notice === message.notice);
    shown.forEach(box => box.dispatchEvent(new Event("dismissed")));
    bell(message.notice === null ? 0 : Math.max(0, unreadNow() - 1));
  });

  function connectEvents(delay = 1000) {
    if (!csrf || document.querySelector("meta[name=events][content=off]")) return;  // not logged in, or not yet let in
    const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/events`);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      (handlers[message.type] || []).forEach(h => h(message));
      const text = typeof message.toast === "object" ? message.toast[lang] || message.toast.en : message.toast;
      if (!text) return;
      toast(text, message.severity || "", { link: message.link, ring: message.ring, notice: message.notice });
      if (message.notice) bell(unreadNow() + 1);
    };
    socket.onclose = () => setTimeout(() => connectEvents(Math.min(delay * 2, 30000)), delay);
  }
  connectEvents();

  // A time as every page shows it, in the facility's zone and the language's one format
  // (telemed/display.py): 05 Mar 2026 08:00 in English, 2026-03-05 08:00 in Chinese.
  function when(iso, zone = timeZone) {
    if (!iso) return "";
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { timeZone: zone, year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(iso)).map(p => [p.type, p.value]));
    const month = new Date(Date.UTC(2000, Number(parts.month) - 1, 1)).toLocaleString("en-GB", { month: "short", timeZone: "UTC" });
    return lang === "en" ? `${parts.day} ${month} ${parts.year} ${parts.hour}:${parts.minute}`
      : `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
  }

  function formData(form) { return Object.fromEntries(new FormData(form).entries()); }

  // Asks before a destructive step, in the page's own dialog (translated, unlike window.confirm).
  function confirm(text) {
    const dialog = document.getElementById("confirm");
    document.getElementById("confirm-text").textContent = text;
    dialog.returnValue = "";
    dialog.showModal();
    return new Promise(resolve => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error").forEach(n => n.remove());
    form.querySelectorAll("[aria-invalid]").forEach(n => n.removeAttribute("aria-invalid"));
  }

  // A refused save: the message goes next to the field the server named (or into a toast).
  function showError(form, err, messages) {
    clearErrors(form);
    const code = err.data?.code;
    const text = (code && messages[code]) || messages.failed || err.message;
    const input = err.data?.field && form.elements[err.data.field];
    if (!input || input.type === "hidden") { toast(text, "critical"); return; }
    input.setAttribute("aria-invalid", "true");
    input.insertAdjacentElement("afterend", el("span", { class: "field-error", role: "alert" }, text));
    input.focus();
  }

  return { api, toast, el, on, formData, when, lang, csrf, confirm, clearErrors, showError };
})();
