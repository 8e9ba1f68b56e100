// The batch form: say what was chosen (how many pictures, how large together), check the upload
// limit before sending (the server checks it again), and start at the problems after a refusal.
"use strict";
(function () {
  const form = document.getElementById("batch-form");
  if (!form) return;
  const input = document.getElementById("images");
  const chosen = document.getElementById("images-chosen");
  const submit = document.getElementById("submit");
  const maxBytes = Number(form.dataset.maxBytes);

  const summary = document.getElementById("form-errors");
  if (summary) summary.focus();

  function mebibytes(bytes) {
    return `${(bytes / 1048576).toFixed(1)} MiB`;
  }

  function problem() {
    const files = [...input.files];
    const total = files.reduce((sum, file) => sum + file.size, 0);
    if (!files.length) {
      chosen.textContent = "";
      return "";
    }
    chosen.textContent = `${files.length} picture${files.length === 1 ? "" : "s"} chosen, ${mebibytes(total)} together.`;
    if (total > maxBytes) {
      return `Together they are too large: at most ${form.dataset.maxBytesLabel} in one batch; start several batches, or use a storage prefix.`;
    }
    return "";
  }

  function check() {
    const message = problem();
    const error = document.getElementById("images-client-error");
    error.textContent = message;
    error.hidden = !message;
    input.setAttribute("aria-invalid", message ? "true" : "false");
    return !message;
  }

  input.addEventListener("change", check);
  form.addEventListener("submit", (event) => {
    if (!check()) {
      event.preventDefault();
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = input.files.length ? "Uploading…" : "Starting…";
  });
})();
