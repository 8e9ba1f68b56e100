// The upload form: drag-and-drop (onto the page), a preview, and the size limit checked
// before uploading (the server checks it again and answers with the same message).
"use strict";
(function () {
  const form = document.getElementById("job-form");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const zone = document.getElementById("dropzone");
  const preview = document.getElementById("preview");
  const zoneText = document.getElementById("dropzone-text");
  const clientError = document.getElementById("image-client-error");
  const maxBytes = Number(form.dataset.maxBytes);
  const submit = document.getElementById("submit");
  let previewUrl = null;

  // After a refused submission, start screen readers and keyboards at the list of problems.
  const summary = document.getElementById("form-errors");
  if (summary) summary.focus();

  function showError(message) {
    clientError.textContent = message;
    clientError.hidden = !message;
    input.setAttribute("aria-invalid", message ? "true" : "false");
  }

  function checkFile(file) {
    if (!file) return "Choose an image to upload.";
    if (file.size > maxBytes) {
      return `"${file.name}" is too large: uploads are limited to ${form.dataset.maxBytesLabel}.`;
    }
    return "";
  }

  function showFile() {
    const file = input.files[0];
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    preview.hidden = true;
    if (!file) return;
    const problem = checkFile(file);
    showError(problem);
    zoneText.textContent = `${file.name} (${(file.size / 1024).toFixed(1)} KiB)`;
    if (!problem && file.type.startsWith("image/")) {
      previewUrl = URL.createObjectURL(file);
      preview.src = previewUrl;
      preview.alt = `Preview of ${file.name}`;
      preview.hidden = false;
    }
  }

  // A picture the browser cannot show (HEIC in most browsers) is still uploaded: no broken icon.
  preview.addEventListener("error", () => {
    preview.hidden = true;
  });

  input.addEventListener("change", showFile);

  // A file dropped anywhere on the page is taken, rather than the browser navigating away to it.
  ["dragenter", "dragover"].forEach((type) =>
    document.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    }),
  );
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) zone.classList.remove("dragging"); // left the window
  });
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (!event.dataTransfer || event.dataTransfer.files.length === 0) return;
    input.files = event.dataTransfer.files;
    showFile();
  });

  // Show the custom list or the target field as soon as its choice is made, and move focus there.
  form.querySelectorAll("input[name=k_choice]").forEach((radio) =>
    radio.addEventListener("change", () => {
      const field = radio.closest(".choice").querySelector(".inline-field input");
      if (field) field.focus();
    }),
  );
  form.querySelectorAll(".inline-field input").forEach((field) =>
    field.addEventListener("focus", () => {
      field.closest(".choice").querySelector("input[name=k_choice]").checked = true;
    }),
  );

  form.addEventListener("submit", (event) => {
    const problem = checkFile(input.files[0]);
    if (problem) {
      event.preventDefault();
      showError(problem);
      input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = "Uploading…";
  });
  // Coming back with the Back button restores the page from cache: make the button usable again.
  window.addEventListener("pageshow", () => {
    submit.disabled = false;
    submit.textContent = "Quantize";
  });
})();
