// Shared browser helpers: JSON calls with the CSRF token, translated strings, pushed events.
"use strict";
const telemed = (() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const lang = document.querySelector('meta[name="lang"]')?.content || "zh-CN";

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

  return { api, toast, el, on, formData, lang, csrf };
})();
