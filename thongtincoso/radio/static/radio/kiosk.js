/* E-board kiosk: shows the e-board items of this device's manifest, one after another, and a red
 * banner while an emergency is on air. The device credential comes from the URL fragment
 * (#<credential>), which the browser never sends to the server; it is sent only as a Bearer token
 * to the manifest API. The last manifest is kept in localStorage so the board keeps showing its
 * content when the network is gone, with a small "offline since" note. */
(function () {
  "use strict";

  var root = document.getElementById("kiosk");
  if (!root) return;
  var manifestUrl = root.dataset.manifestUrl;
  var rotateMs = Math.max(3, parseInt(root.dataset.rotateSeconds, 10) || 15) * 1000;
  var credential = decodeURIComponent((window.location.hash || "").replace(/^#/, ""));
  // One store per credential, so two boards tried in one browser do not mix their content.
  var storeKey = "ttcs-kiosk:" + credential.slice(-12);
  var DEFAULT_POLL_S = 60;

  var el = {
    emergency: document.getElementById("kiosk-emergency"),
    emergencyTitle: document.getElementById("kiosk-emergency-title"),
    emergencyText: document.getElementById("kiosk-emergency-text"),
    title: document.getElementById("kiosk-title"),
    summary: document.getElementById("kiosk-summary"),
    body: document.getElementById("kiosk-body"),
    clock: document.getElementById("kiosk-clock"),
    position: document.getElementById("kiosk-position"),
    status: document.getElementById("kiosk-status"),
  };

  var state = {
    manifest: null,
    etag: null,
    index: 0,
    offlineSince: null,
    clockOffsetMs: 0,
    timer: null,
  };

  function now() {
    // The board's own clock is not trusted: correct it by the server's Date header.
    return new Date(Date.now() + state.clockOffsetMs);
  }

  function hhmm(date) {
    var h = String(date.getHours()).padStart(2, "0");
    var m = String(date.getMinutes()).padStart(2, "0");
    return h + ":" + m;
  }

  function time(value) {
    if (!value) return null;
    var t = Date.parse(value);
    return isNaN(t) ? null : t;
  }

  function within(item, at) {
    var start = time(item.started_at || item.starts_at || item.start || item.valid_from);
    var end = time(item.ends_at || item.end || item.valid_until);
    return (start === null || start <= at) && (end === null || at < end);
  }

  function content(item) {
    // An e-board item carries its text at the top level or under "eboard".
    var text = item.eboard && typeof item.eboard === "object" ? item.eboard : item;
    return {
      title: text.title || item.title || "",
      summary: text.summary || "",
      body: text.body || text.text || "",
    };
  }

  function isEboard(item) {
    return (
      item.kind === "eboard" ||
      item.type === "eboard" ||
      item.channel === "eboard" ||
      (item.eboard && typeof item.eboard === "object")
    );
  }

  function isEmergency(item) {
    return item.priority === "emergency" || item.kind === "emergency" || item.type === "emergency";
  }

  function boardItems(manifest, at) {
    if (!manifest) return [];
    // An e-board's manifest lists its texts under "eboard"; items of kind "eboard" count too.
    var items = (manifest.eboard || []).concat((manifest.items || []).filter(isEboard));
    return items.filter(function (item) {
      return within(item, at);
    });
  }

  function liveEmergency(manifest, at) {
    if (!manifest) return null;
    var candidates = [].concat(manifest.emergencies || [], (manifest.items || []).filter(isEmergency));
    var live = candidates.filter(function (e) {
      if (e.state && e.state !== "active") return false;
      if (e.stopped_at && time(e.stopped_at) <= at) return false;
      return within(e, at);
    });
    // The newest emergency speaks over older ones.
    live.sort(function (a, b) {
      var tb = time(b.started_at || b.starts_at || b.start) || 0;
      var ta = time(a.started_at || a.starts_at || a.start) || 0;
      return tb - ta;
    });
    return live[0] || null;
  }

  function renderEmergency(at) {
    var emergency = liveEmergency(state.manifest, at);
    if (emergency) {
      el.emergency.hidden = false;
      el.emergencyTitle.textContent = emergency.title || "";
      el.emergencyText.textContent = emergency.text || emergency.summary || "";
    } else {
      el.emergency.hidden = true;
    }
  }

  function render() {
    var at = now().getTime();
    var manifest = state.manifest;
    renderEmergency(at);
    var items = boardItems(manifest, at);
    if (!credential) {
      show({ title: "", summary: root.dataset.textNoCredential, body: "" });
    } else if (!items.length) {
      show({ title: "", summary: manifest ? root.dataset.textEmpty : "", body: "" });
      el.position.textContent = "";
    } else {
      state.index = state.index % items.length;
      show(content(items[state.index]));
      el.position.textContent = items.length > 1 ? state.index + 1 + "/" + items.length : "";
    }
    el.clock.textContent = hhmm(now());
  }

  function show(text) {
    el.title.textContent = text.title;
    el.summary.textContent = text.summary;
    el.body.textContent = text.body;
  }

  function setOnline() {
    state.offlineSince = null;
    el.status.textContent = "";
    el.status.classList.remove("offline");
  }

  function setOffline() {
    if (!state.offlineSince) state.offlineSince = now();
    el.status.textContent = root.dataset.textOffline.replace("%(time)s", hhmm(state.offlineSince));
    el.status.classList.add("offline");
  }

  function remember() {
    try {
      window.localStorage.setItem(
        storeKey,
        JSON.stringify({ manifest: state.manifest, etag: state.etag })
      );
    } catch (e) {
      /* storage full or disabled: the board still works while this page stays open */
    }
  }

  function recall() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(storeKey) || "null");
      if (saved && saved.manifest) {
        state.manifest = saved.manifest;
        state.etag = saved.etag || null;
      }
    } catch (e) {
      /* unreadable: start empty */
    }
  }

  function pollSeconds() {
    var m = state.manifest || {};
    var s = parseInt(m.poll_interval || m.poll_interval_seconds, 10);
    return s > 0 ? s : DEFAULT_POLL_S;
  }

  function schedule() {
    var seconds = pollSeconds();
    // Retry sooner while offline, so the board recovers quickly when the network returns.
    if (state.offlineSince) seconds = Math.min(seconds, 15);
    window.clearTimeout(state.timer);
    state.timer = window.setTimeout(poll, seconds * 1000);
  }

  function poll() {
    if (!credential) {
      render();
      return;
    }
    var headers = { Authorization: "Bearer " + credential, Accept: "application/json" };
    if (state.etag && state.manifest) headers["If-None-Match"] = state.etag;
    fetch(manifestUrl, { headers: headers, cache: "no-store", credentials: "omit" })
      .then(function (response) {
        // The Date header has whole seconds: take its middle, and trust the board's own clock
        // when the two agree within two seconds.
        var date = time(response.headers.get("Date"));
        if (date !== null) {
          var offset = date + 500 - Date.now();
          state.clockOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
        }
        if (response.status === 304) return null;
        if (response.status === 401 || response.status === 403) {
          el.status.textContent = root.dataset.textRefused;
          el.status.classList.add("offline");
          return null;
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        state.etag = response.headers.get("ETag");
        return response.json();
      })
      .then(function (manifest) {
        if (el.status.textContent !== root.dataset.textRefused) setOnline();
        if (manifest) {
          state.manifest = manifest;
          remember();
        }
        render();
      })
      .catch(function () {
        setOffline();
        render();
      })
      .then(schedule);
  }

  recall();
  render();
  poll();
  window.setInterval(function () {
    state.index += 1;
    render();
  }, rotateMs);
  // Keep the clock and the emergency banner current between rotations.
  window.setInterval(function () {
    el.clock.textContent = hhmm(now());
    renderEmergency(now().getTime());
  }, 1000);
  // Poll at once when the network comes or goes, or when something on the board asks
  // (a push bridge dispatches "ttcs-kiosk-poll").
  ["online", "offline", "ttcs-kiosk-poll"].forEach(function (name) {
    window.addEventListener(name, function () {
      window.clearTimeout(state.timer);
      poll();
    });
  });
  window.addEventListener("hashchange", function () {
    window.location.reload();
  });
})();
