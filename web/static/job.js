// The job page: follow the job through the JSON API without reloading, swap in the server-rendered
// results as they arrive, and open any output in a before/after viewer.
"use strict";
(function () {
  const panel = document.getElementById("job-panel");
  if (!panel) return;
  const POLL_MS = 500;
  const FINISHED = ["succeeded", "failed"];

  // The panel is replaced wholesale, so screen readers hear the news from a region outside it.
  const announcer = document.getElementById("announcer");

  async function refreshPanel() {
    const response = await fetch(panel.dataset.panelUrl, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    panel.innerHTML = await response.text();
    const text = document.getElementById("status-text");
    if (text) announcer.textContent = text.textContent;
  }

  function showProgress(job) {
    const bar = document.getElementById("progress");
    if (bar && job.progress > Number(bar.value)) {
      bar.value = job.progress;
      bar.textContent = `${Math.round(job.progress * 100)}%`;
    }
  }

  async function poll() {
    try {
      const response = await fetch(panel.dataset.jobUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const job = await response.json();
      showProgress(job);
      const results = (job.results || []).length;
      if (job.status !== panel.dataset.status || String(results) !== panel.dataset.results) {
        panel.dataset.status = job.status;
        panel.dataset.results = String(results);
        await refreshPanel();
      }
      if (FINISHED.includes(job.status)) return;
    } catch (error) {
      // A network hiccup or a restarting server: keep the last state on screen and try again.
      const text = document.getElementById("status-text");
      if (text) text.textContent = "Lost contact with the server; retrying…";
    }
    setTimeout(poll, POLL_MS);
  }

  if (!FINISHED.includes(panel.dataset.status)) setTimeout(poll, POLL_MS);

  // Before/after viewer: the original is drawn over the output and clipped at the slider.
  const viewer = document.getElementById("viewer");
  const before = document.getElementById("viewer-before");
  const after = document.getElementById("viewer-after");
  const range = document.getElementById("compare-range");
  const compare = document.getElementById("compare");
  const rangeValue = document.getElementById("compare-value");
  const title = document.getElementById("viewer-title");

  function setPosition() {
    compare.style.setProperty("--pos", `${range.value}%`);
    rangeValue.textContent = `${range.value}%`;
  }

  panel.addEventListener("click", (event) => {
    const button = event.target.closest("button.enlarge");
    if (!button) return;
    before.src = button.dataset.before;
    before.alt = "Original image";
    after.src = button.dataset.after;
    after.alt = `The image reduced to ${button.dataset.k} colours`;
    title.textContent = `Original and k = ${button.dataset.k}`;
    range.value = 50;
    setPosition();
    viewer.showModal();
    range.focus();
  });
  range.addEventListener("input", setPosition);
  document.getElementById("viewer-close").addEventListener("click", () => viewer.close());
  // A click on the backdrop (outside the dialog's box) closes it too.
  viewer.addEventListener("click", (event) => {
    const box = viewer.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right &&
      event.clientY >= box.top && event.clientY <= box.bottom;
    if (event.target === viewer && !inside) viewer.close();
  });
})();
