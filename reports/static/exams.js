// Exam campaigns: the list, one campaign (completion, cohort, batches with live progress), exam entry.
"use strict";
(() => {
  const { api, el, on, toast, formData, lang } = telemed;

  const list = document.querySelector("#campaigns tbody");
  if (list) {
    const statusLabels = JSON.parse(document.getElementById("campaigns").dataset.labels);
    const load = async () => {
      const rows = await api("GET", "/api/campaigns");
      list.replaceChildren(...rows.map(c => el("tr", { class: "clickable", onclick: () => { location.href = `/exams/${c.id}`; } },
        el("td", {}, c.name), el("td", {}, c.period_start), el("td", {}, c.period_end), el("td", {}, statusLabels[c.status] || c.status),
        el("td", {}, String(c.completion.examined)), el("td", {}, String(c.completion.total)))));
    };
    const form = document.getElementById("campaign-form");
    form?.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = formData(form);
      body.booking_numbers = body.booking_numbers ? body.booking_numbers.split(/[\s,，、]+/).filter(Boolean) : [];
      if (body.booking_numbers.length) delete body.cohort_date;
      try { const c = await api("POST", "/api/campaigns", body); location.href = `/exams/${c.id}`; }
      catch (err) {  // the reason in the reader's words, next to its field
        const words = JSON.parse(document.getElementById("campaign-errors").textContent);
        const numbers = err.data?.values?.numbers ?? "";
        telemed.showError(form, err, { ...words, unknown_booking: words.unknown_booking.replace("{numbers}", numbers) });
      }
    });
    load();
  }

  const campaignBox = document.getElementById("campaign");
  if (campaignBox) {
    const id = campaignBox.dataset.id;
    const labels = JSON.parse(campaignBox.dataset.labels);
    const canEnter = campaignBox.dataset.canEnter === "1";
    const sectionLabels = JSON.parse(campaignBox.dataset.sections);
    const showCompletion = (counts) => {
      for (const [key, value] of Object.entries(counts)) {
        const node = document.querySelector(`[data-count="${key}"]`);
        if (node) node.textContent = value;
      }
      const done = counts.examined + counts.refused;
      document.getElementById("completion-bar").style.width = `${counts.total ? (100 * done / counts.total) : 0}%`;
    };
    const canManage = campaignBox.dataset.canManage === "1";
    const statusFilter = document.getElementById("roster-status");
    const search = document.getElementById("roster-search");
    let roster = [], campaignOpen = false;
    // The filter's states: "released" is a pending exam whose detainee has left custody.
    const matches = {
      "": () => true,
      pending: (x) => x.status === "pending" && x.custody === "in-custody",
      examined: (x) => x.status === "examined",
      to_review: (x) => x.status === "examined" && !x.reviewed,
      reviewed: (x) => x.reviewed,
      refused: (x) => x.status === "refused",
      released: (x) => x.status === "pending" && x.custody !== "in-custody",
    };
    const links = (x) => {
      const out = [];
      if (canManage || x.status !== "pending") out.push(el("a", { href: `/exams/exam/${x.exam_id}`, "data-testid": "open-exam" }, labels.view));
      if (canEnter && campaignOpen) out.push(el("a", { href: `/exams/entry/${x.exam_id}` }, labels.enter));
      return el("td", { class: "actions" }, out);
    };
    const showRoster = () => {
      const words = search.value.trim().toLowerCase();
      const test = matches[statusFilter.value] || matches[""];
      const shown = roster.filter(x => test(x) && (!words || x.name.toLowerCase().includes(words) || x.booking_number.toLowerCase().includes(words)));
      document.querySelector("#roster tbody").replaceChildren(...shown.map(x => el("tr", { "data-booking": x.booking_number },
        el("td", { class: "nowrap" }, x.booking_number), el("td", { class: "name" }, x.name), el("td", { class: "nowrap" }, labels[x.custody] || x.custody),
        el("td", {}, el("span", { class: `badge ${x.status === "examined" ? "ok" : x.status === "refused" ? "warn" : ""}` },
          labels[x.status] || x.status), x.reviewed ? el("span", { class: "badge ok", title: labels.reviewed }, "✓") : ""),
        el("td", { class: "muted nowrap", title: x.sections.map(k => sectionLabels[k] || k).join(lang === "en" ? ", " : "、") },
          `${x.sections.length} / ${Object.keys(sectionLabels).length}`),
        links(x))));
      document.getElementById("roster-shown").textContent = `${shown.length} / ${roster.length}`;
    };
    const load = async () => {
      const data = await api("GET", `/api/campaigns/${id}`);
      showCompletion(data.completion);
      document.getElementById("campaign-status").textContent = labels[data.status] || data.status;
      campaignOpen = data.status === "open";
      document.getElementById("close-campaign")?.toggleAttribute("hidden", !campaignOpen);
      roster = data.exams;
      showRoster();
    };
    statusFilter.addEventListener("change", () => {
      const url = new URL(location.href);
      statusFilter.value ? url.searchParams.set("status", statusFilter.value) : url.searchParams.delete("status");
      history.replaceState(null, "", url);
      showRoster();
    });
    search.addEventListener("input", showRoster);
    on("exams.completion", (m) => { if (m.campaign_id === id) showCompletion(m.completion); });

    const batches = document.getElementById("batches");
    const jobRow = (job) => {
      const bar = el("div", { style: `width:${job.total ? 100 * job.done / job.total : 0}%` });
      const links = el("div", { class: "row", "data-files": job.id });
      const cancel = job.status === "running" || job.status === "queued"
        ? el("button", { class: "link", title: labels.batch_cancel, onclick: async () => {
          if (await telemed.confirm(labels.confirm_cancel)) showJob(await api("POST", `/api/batches/${job.id}/cancel`));
        } }, "✕") : "";
      return el("div", { class: "card", id: `job-${job.id}` },
        el("div", { class: "row" }, el("b", {}, `${job.lang} · ${labels[job.status] || job.status}`), el("span", {}, `${job.done} / ${job.total}`), cancel),
        el("div", { class: "progress" }, bar), links, job.error ? el("p", { class: "error" }, job.error) : "");
    };
    const showJob = async (job) => {
      const node = jobRow(job);
      const old = document.getElementById(`job-${job.id}`);
      old ? old.replaceWith(node) : batches?.prepend(node);
      if (job.status === "done") {
        const detail = await api("GET", `/api/batches/${job.id}`);
        node.querySelector("[data-files]").replaceChildren(...detail.files.map(name =>
          el("a", { href: `/api/batches/${job.id}/files/${name}` }, name)));
      }
    };
    if (batches) {
      api("GET", `/api/campaigns/${id}/batches`).then(jobs => jobs.reverse().forEach(showJob));
      on("reports.batch", (m) => { if (m.job.campaign_id === id) showJob(m.job); });
      const form = document.getElementById("batch-form");
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        try { showJob(await api("POST", `/api/campaigns/${id}/batches`, formData(form))); }
        catch (err) { toast(err.message, "critical"); }
      });
    }
    document.getElementById("close-campaign")?.addEventListener("click", async () => {
      if (!await telemed.confirm(labels.confirm_close)) return;
      try { await api("POST", `/api/campaigns/${id}/close`); toast(labels.closed_done); load(); }
      catch (err) { toast(err.message, "critical"); }
    });
    load();
  }

  const reviewButton = document.getElementById("mark-reviewed");
  reviewButton?.addEventListener("click", async () => {
    if (!await telemed.confirm(reviewButton.dataset.confirm)) return;
    try { await api("POST", `/api/exams/${document.getElementById("review").dataset.exam}/review`); location.reload(); }
    catch (err) { toast(err.message, "critical"); }
  });

  const entry = document.getElementById("entry");
  if (entry) {
    const exam = entry.dataset.exam;
    const statusLabels = JSON.parse(entry.dataset.labels);
    const showStatus = (status) => { document.getElementById("exam-status").textContent = statusLabels[status] || status; };
    const fill = (data) => {
      showStatus(data.status);
      const values = data.values;
      const vitals = document.querySelector('[data-section="vitals"]');
      for (const key of ["height", "weight", "pulse", "temperature"]) {
        if (values[key]) vitals.elements[key].value = values[key].valueQuantity.value;
      }
      if (values.bp) [vitals.elements.sbp.value, vitals.elements.dbp.value] = values.bp.component.map(c => c.valueQuantity.value);
      for (const form of document.querySelectorAll(".section-form")) {
        const found = values[form.dataset.section.replace("_", "-")];
        if (!found || !form.elements.text) continue;
        form.elements.text.value = found.valueString || "";
        form.elements.abnormal.checked = found.interpretation?.[0]?.coding?.[0]?.code === "A";
        form.elements.advice.value = found.note?.[0]?.text || "";
      }
      const conclusion = document.querySelector('[data-section="conclusion"]');
      if (values.conclusion) conclusion.elements.conclusion.value = values.conclusion.valueString;
      if (values.recommendations) conclusion.elements.recommendations.value = values.recommendations.valueString;
    };
    for (const form of document.querySelectorAll(".section-form")) {
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const body = formData(form);
        if (form.elements.abnormal) body.abnormal = form.elements.abnormal.checked;
        try {
          const saved = await api("PUT", `/api/exams/${exam}/sections/${form.dataset.section}`, body);
          showStatus(saved.status);
          toast(entry.dataset.saved);
        } catch (err) { toast(err.message, "critical"); }
      });
    }
    api("GET", `/api/exams/${exam}`).then(fill);
  }
})();
