// Records from the microphone with MediaRecorder and uploads the recording as the bulletin's audio.
// The server decodes it like any upload (WebM/Opus from Chromium, Ogg or MP4 elsewhere), so the
// browser's format does not matter. Loaded once per page; panels swapped in by htmx are wired up
// again on htmx:load.
(function () {
  "use strict";

  function csrfToken(root) {
    var field = root.closest("section").querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function wire(box) {
    if (box.dataset.wired) return;
    box.dataset.wired = "1";
    if (!window.MediaRecorder || !navigator.mediaDevices) return; // stays hidden
    box.hidden = false;
    var start = box.querySelector("[data-record-start]");
    var stop = box.querySelector("[data-record-stop]");
    var use = box.querySelector("[data-record-use]");
    var preview = box.querySelector("[data-record-preview]");
    var clock = box.querySelector("[data-record-time]");
    var error = box.querySelector("[data-record-error]");
    var recorder = null, chunks = [], blob = null, timer = null, began = 0;

    function say(template) {
      error.textContent = box.querySelector(template).innerHTML;
      error.hidden = false;
    }

    start.addEventListener("click", function () {
      error.hidden = true;
      navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
        chunks = [];
        recorder = new MediaRecorder(stream);
        recorder.ondataavailable = function (e) { if (e.data.size) chunks.push(e.data); };
        recorder.onstop = function () {
          stream.getTracks().forEach(function (t) { t.stop(); });
          blob = new Blob(chunks, { type: recorder.mimeType || "audio/webm" });
          preview.src = URL.createObjectURL(blob);
          preview.hidden = false;
          use.disabled = false;
        };
        recorder.start(1000);
        began = Date.now();
        timer = setInterval(function () {
          var s = Math.round((Date.now() - began) / 1000);
          clock.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
        }, 500);
        start.disabled = true;
        stop.disabled = false;
      }).catch(function () { say("[data-msg-denied]"); });
    });

    stop.addEventListener("click", function () {
      if (recorder && recorder.state !== "inactive") recorder.stop();
      clearInterval(timer);
      start.disabled = false;
      stop.disabled = true;
    });

    use.addEventListener("click", function () {
      if (!blob) return;
      var data = new FormData();
      var extension = (blob.type.indexOf("ogg") >= 0) ? "ogg" : (blob.type.indexOf("mp4") >= 0 ? "m4a" : "webm");
      data.append("file", blob, "recording." + extension);
      data.append("source", "recording");
      use.disabled = true;
      fetch(box.dataset.uploadUrl, {
        method: "POST",
        body: data,
        headers: { "X-CSRFToken": csrfToken(box), "HX-Request": "true" },
        credentials: "same-origin"
      }).then(function (response) {
        return response.text().then(function (html) {
          var panel = box.closest("section");
          panel.outerHTML = html;
          if (window.htmx) window.htmx.process(document.getElementById("audio"));
          scan(document);
        });
      }).catch(function () { use.disabled = false; say("[data-msg-failed]"); });
    });
  }

  function scan(root) {
    (root || document).querySelectorAll("[data-recorder]").forEach(wire);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (e) { scan(e.target); });
  document.addEventListener("htmx:afterSwap", function () { scan(document); });
})();
