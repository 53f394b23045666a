// Shared browser helpers: JSON calls with the CSRF token, translated strings, pushed events.
"use strict";
const telemed = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const lang = document.querySelector('meta[name="lang"]')?.content || "zh-CN";
  const timeZone = document.querySelector('meta[name="timezone"]')?.content || "UTC";
  const clock = new Intl.DateTimeFormat("sv-SE", { timeZone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit" });

  // An instant as the facility's local "YYYY-MM-DD HH:MM" (the pages' one date format).
  function localTime(iso) { return iso ? clock.format(new Date(iso)) : ""; }

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

  function toast(text, kind = "") {
    const box = document.createElement("div");
    box.className = `toast ${kind}`;
    box.textContent = text;
    document.getElementById("toasts").appendChild(box);
    if (kind !== "critical") setTimeout(() => box.remove(), 6000);
    return box;
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

  function connectEvents(delay = 1000) {
    if (!csrf) return;  // not logged in
    const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/events`);
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      (handlers[message.type] || []).forEach(h => h(message));
      if (message.toast) toast(message.toast, message.severity || "");
    };
    socket.onclose = () => setTimeout(() => connectEvents(Math.min(delay * 2, 30000)), delay);
  }
  connectEvents();

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

  return { api, toast, el, on, formData, lang, csrf, confirm, clearErrors, showError, localTime };
})();
