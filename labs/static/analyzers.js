// The analyzer registry and code-map pages: register, remove, map; the page is rendered by the server.
"use strict";
(() => {
  const T = JSON.parse(document.getElementById("labs-text").textContent);
  const fail = (err) => telemed.toast(err.message, "critical");
  const done = (text) => { telemed.toast(text, "ok"); setTimeout(() => location.reload(), 400); };

  const registry = document.getElementById("analyzers");
  if (registry) {
    registry.querySelector("#analyzer-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = telemed.formData(e.target);
      body.addresses = body.addresses.split(",").map(a => a.trim()).filter(Boolean);
      try { await telemed.api("POST", "/api/labs/analyzers", body); done(T.added); } catch (err) { fail(err); }
    });
    registry.querySelectorAll("button.remove").forEach(button => button.addEventListener("click", async () => {
      if (!confirm(`${T.confirm_remove} ${button.dataset.name}`)) return;
      const id = button.closest("tr").dataset.analyzer;
      try { await telemed.api("DELETE", `/api/labs/analyzers/${id}`); done(T.removed); } catch (err) { fail(err); }
    }));
  }

  const map = document.getElementById("codemap");
  if (map) {
    const base = `/api/labs/analyzers/${map.dataset.analyzer}/codes`;
    const form = map.querySelector("#code-form");
    const units = () => {
      const option = form.loinc.selectedOptions[0];
      const choices = option?.dataset.units ? option.dataset.units.split("|") : [];
      form.unit.replaceChildren(telemed.el("option", { value: "" }, T.unit_in_message),
        ...choices.map(u => telemed.el("option", { value: u }, u)));
    };
    form.loinc.addEventListener("change", units);
    units();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try { await telemed.api("POST", base, telemed.formData(form)); done(T.saved); } catch (err) { fail(err); }
    });
    map.querySelectorAll("button.remove").forEach(button => button.addEventListener("click", async () => {
      try { await telemed.api("DELETE", `${base}/${encodeURIComponent(button.dataset.code)}`); done(T.removed); }
      catch (err) { fail(err); }
    }));
  }
})();
