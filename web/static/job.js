// The job page: follow the job through the JSON API without reloading, swap in the server-rendered
// results as they arrive, and open any output in a before/after viewer.
"use strict";
(function () {
  const panel = document.getElementById("job-panel");
  if (!panel) return;
  const POLL_MS = 500;
  const FINISHED = ["succeeded", "failed", "cancelled"];

  // The panel is replaced wholesale, so screen readers hear the news from a region outside it.
  const announcer = document.getElementById("announcer");

  async function refreshPanel() {
    const response = await fetch(panel.dataset.panelUrl, { headers: { Accept: "text/html" } });
    if (!response.ok) return false;
    // The panel is replaced wholesale: put the keyboard focus back where it was, if it is still
    // there (the Cancel button goes once the job ends).
    const focused = panel.contains(document.activeElement) ? document.activeElement.id : "";
    panel.innerHTML = await response.text();
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    const text = document.getElementById("status-text");
    if (text) announcer.textContent = text.textContent;
    return true;
  }

  // What the worker is doing ("Fitting 16 colours", an auto-k search step) changes often: it is
  // written in place, neither re-rendering the panel nor announced each time.
  function showStage(job) {
    if (job.status !== "running" || !job.stage || job.stage === panel.dataset.stage) return;
    panel.dataset.stage = job.stage;
    const text = document.getElementById("status-text");
    if (text) text.textContent = job.stage;
    const made = document.getElementById("outputs-made");
    if (made) made.hidden = false;
  }

  function showProgress(job) {
    const bar = document.getElementById("progress");
    if (bar && job.progress > Number(bar.value)) {
      bar.value = job.progress;
      bar.textContent = `${Math.round(job.progress * 100)}%`;
    }
  }

  // Each request is held by the server until the job changes (`wait`, with the ETag of the
  // version on screen), so the page hears of each change at once with one request per change.
  const WAIT_SECONDS = 20;
  let etag = null;

  async function poll() {
    let delay = POLL_MS;
    try {
      const url = etag ? `${panel.dataset.jobUrl}?wait=${WAIT_SECONDS}` : panel.dataset.jobUrl;
      const headers = { Accept: "application/json" };
      if (etag) headers["If-None-Match"] = etag;
      const started = Date.now();
      const response = await fetch(url, { headers, cache: "no-store" });
      if (response.status === 304) {
        // Not held (a busy server answers at once): then poll at the usual pace.
        setTimeout(poll, Date.now() - started < 1000 ? POLL_MS : 0);
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const job = await response.json();
      etag = response.headers.get("ETag");
      if (etag) delay = 0;  // the next request waits on the server, not here
      showProgress(job);
      showStage(job);
      const results = (job.results || []).length;
      if (job.status !== panel.dataset.status || String(results) !== panel.dataset.results) {
        // The data attributes say what is drawn (tests and scripts wait on them), so they change
        // only once the new panel is in place; a panel that failed to load is fetched again.
        if (!(await refreshPanel())) throw new Error("the panel did not load");
        panel.dataset.status = job.status;
        panel.dataset.results = String(results);
        panel.dataset.stage = job.stage || "";
      }
      if (FINISHED.includes(job.status)) return;
    } catch (error) {
      // A network hiccup or a restarting server: keep the last state on screen and try again.
      const text = document.getElementById("status-text");
      if (text) text.textContent = "Lost contact with the server; retrying…";
      panel.dataset.status = "";  // the next answer redraws the panel over this message
      etag = null;
      delay = POLL_MS;
    }
    setTimeout(poll, delay);
  }

  if (!FINISHED.includes(panel.dataset.status)) setTimeout(poll, 0);

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
    compare.dataset.frame = button.dataset.frame || "";  // a strip is drawn stretched here too
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
