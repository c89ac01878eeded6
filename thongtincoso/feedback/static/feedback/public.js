/* Citizens' feedback form: a live character counter, "use my location" (no map: an intranet has
   no tile server), and a warning when too many photos are chosen. Everything also works without
   this file; the server checks all of it again. Messages come translated from data attributes. */
(function () {
  "use strict";

  function counter(help) {
    var area = document.getElementById(help.getAttribute("data-fb-counter"));
    if (!area) return;
    var max = parseInt(help.getAttribute("data-max"), 10);
    var template = help.getAttribute("data-template");
    function update() {
      help.textContent = template.replace("__N__", String(area.value.length));
      help.classList.toggle("error", area.value.length > max);
    }
    area.addEventListener("input", update);
    update();
  }

  function locate(box) {
    var button = box.querySelector("[data-fb-locate-button]");
    var lat = box.querySelector("input[name=lat]");
    var lon = box.querySelector("input[name=long]");
    var shown = box.querySelector("[data-fb-point-shown]");
    var text = box.querySelector("[data-fb-point-text]");
    var status = box.querySelector("[data-fb-point-status]");
    var clear = box.querySelector("[data-fb-clear]");
    function show() {
      var has = Boolean(lat.value && lon.value);
      shown.hidden = !has;
      if (has) text.textContent = lat.value + ", " + lon.value;
    }
    if (!("geolocation" in navigator)) {
      status.textContent = box.getAttribute("data-unsupported");
    } else {
      button.hidden = false;
    }
    button.addEventListener("click", function () {
      status.textContent = box.getAttribute("data-locating");
      navigator.geolocation.getCurrentPosition(
        function (pos) {
          lat.value = pos.coords.latitude.toFixed(6);
          lon.value = pos.coords.longitude.toFixed(6);
          status.textContent = "";
          show();
        },
        function () {
          status.textContent = box.getAttribute("data-failed");
        },
        { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
      );
    });
    clear.addEventListener("click", function (event) {
      event.preventDefault();
      lat.value = "";
      lon.value = "";
      show();
    });
    show();
  }

  function photos(input) {
    var max = parseInt(input.getAttribute("data-max-files"), 10);
    var warning = input.parentNode.querySelector("[data-fb-photo-warning]");
    input.addEventListener("change", function () {
      var tooMany = input.files && input.files.length > max;
      warning.hidden = !tooMany;
      warning.textContent = tooMany ? input.getAttribute("data-too-many") : "";
    });
  }

  function start() {
    document.querySelectorAll("[data-fb-counter]").forEach(counter);
    document.querySelectorAll("[data-fb-locate]").forEach(locate);
    document.querySelectorAll("input[data-max-files]").forEach(photos);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
