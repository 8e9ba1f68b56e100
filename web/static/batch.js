// The batch page: redraw its server-rendered panel while the batch runs, without reloading.
"use strict";
(function () {
  const panel = document.getElementById("batch-panel");
  if (!panel) return;
  // Each answer reads every job of the batch: two seconds apart keeps a big batch cheap to watch.
  const POLL_MS = 2000;
  const ENDED = ["finished", "cancelled"];
  const announcer = document.getElementById("announcer");
  let shown = null;

  async function poll() {
    try {
      const response = await fetch(panel.dataset.panelUrl, { headers: { Accept: "text/html" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const html = await response.text();
      if (html !== shown) {
        const focused = panel.contains(document.activeElement) ? document.activeElement.id : "";
        panel.innerHTML = html;
        shown = html;
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
        // The data attribute says what is drawn (tests and scripts wait on it): set once drawn.
        const state = panel.querySelector("[data-batch-status]");
        if (state) panel.dataset.status = state.dataset.batchStatus;
        const text = document.getElementById("status-text");
        if (text && ENDED.includes(panel.dataset.status)) announcer.textContent = text.textContent;
      }
      if (ENDED.includes(panel.dataset.status)) return;
    } catch (error) {
      // A network hiccup or a restarting server: keep the last state on screen and try again.
      const text = document.getElementById("status-text");
      if (text) text.textContent = "Lost contact with the server; retrying…";
      shown = null;
    }
    setTimeout(poll, POLL_MS);
  }

  if (!ENDED.includes(panel.dataset.status)) setTimeout(poll, POLL_MS);
})();
