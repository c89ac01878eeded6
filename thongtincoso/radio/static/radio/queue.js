/* Drag to reorder a station's waiting queue (native HTML5 drag and drop). On drop the new order
 * of bulletin ids is posted to the list's data-reorder-url with the CSRF token; the server's
 * answer (the re-rendered queue) replaces the list. Without JavaScript the up/down buttons post
 * ordinary forms. */
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function rows(list) {
    return Array.prototype.slice.call(list.querySelectorAll("[data-bulletin]"));
  }

  function send(list) {
    var body = new URLSearchParams();
    rows(list).forEach(function (row) {
      body.append("order", row.dataset.bulletin);
    });
    list.setAttribute("aria-busy", "true");
    fetch(list.dataset.reorderUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
      body: body,
      credentials: "same-origin",
    })
      .then(function (response) {
        return response.text().then(function (html) {
          var holder = document.getElementById("queue");
          if (holder && html) {
            holder.innerHTML = html;
            setup();
          }
        });
      })
      .catch(function () {
        window.location.reload();
      });
  }

  function setup() {
    var list = document.querySelector("[data-reorder-url]");
    if (!list) return;
    var dragged = null;
    rows(list).forEach(function (row) {
      row.setAttribute("draggable", "true");
      row.addEventListener("dragstart", function (event) {
        dragged = row;
        row.classList.add("dragging");
        event.dataTransfer.effectAllowed = "move";
        event.dataTransfer.setData("text/plain", row.dataset.bulletin);
      });
      row.addEventListener("dragend", function () {
        row.classList.remove("dragging");
      });
      row.addEventListener("dragover", function (event) {
        if (!dragged || dragged === row) return;
        // Only within one priority band: the commune's order never overrides TT 39 priority.
        if (dragged.dataset.priority !== row.dataset.priority) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "move";
      });
      row.addEventListener("drop", function (event) {
        if (!dragged || dragged === row) return;
        if (dragged.dataset.priority !== row.dataset.priority) return;
        event.preventDefault();
        var rect = row.getBoundingClientRect();
        var after = event.clientY > rect.top + rect.height / 2;
        row.parentNode.insertBefore(dragged, after ? row.nextSibling : row);
        dragged = null;
        send(list);
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
