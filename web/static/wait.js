// The waiting page, with JavaScript: follow the host's state over
// Server-Sent Events and reload the moment it is running; fall back to
// polling /.waitingroom/status when EventSource is missing or failing.
// Loaded as an external file, so a strict Content-Security-Policy works.
(function () {
  "use strict";
  var root = document.getElementById("waitingroom");
  if (!root) {
    return;
  }
  var base = "/.waitingroom/";
  var state = root.getAttribute("data-state") || "unknown";
  // A page rendered while already running means waitingroom could not
  // hand the request to the backend (it did not answer, or the request may
  // not be sent twice): wait Retry-After before reloading, or we would
  // loop. A page rendered in any other state reloads the moment the host
  // runs, and the handoff puts that reload on the real site.
  var renderedRunning = state === "running";
  var retryAfter = Math.max(1, num(root.getAttribute("data-retry-after"), 2));
  var estimate = num(root.getAttribute("data-estimate"), NaN);
  var since = Date.now() - num(root.getAttribute("data-elapsed"), 0) * 1000;
  var reloading = false;
  var polling = false;

  function num(s, dflt) {
    var n = parseFloat(s);
    return isFinite(n) ? n : dflt;
  }

  function text(id, s) {
    var el = document.getElementById(id);
    if (el && typeof s === "string") {
      el.textContent = s;
    }
  }

  function reload(delayMs) {
    if (reloading) {
      return;
    }
    reloading = true;
    setTimeout(function () { location.reload(); }, delayMs);
  }

  function elapsedText(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) {
      return s + " s";
    }
    if (s < 3600) {
      return Math.floor(s / 60) + " min " + (s % 60) + " s";
    }
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function aboutText(s) {
    s = Math.ceil(s);
    if (s <= 0) {
      return "any moment now";
    }
    if (s <= 10) {
      return "about " + s + " s";
    }
    if (s < 60) {
      return "about " + Math.ceil(s / 5) * 5 + " s";
    }
    return "about " + Math.round(s / 60) + " min";
  }

  function tick() {
    if (state !== "starting") {
      return;
    }
    var elapsed = (Date.now() - since) / 1000;
    text("wr-elapsed", elapsedText(elapsed));
    if (isFinite(estimate)) {
      text("wr-remaining", aboutText(estimate - elapsed));
    }
  }

  function setState(s) {
    if (s === state) {
      return;
    }
    if (s === "starting") {
      since = Date.now();
    }
    state = s;
    root.setAttribute("data-state", s);
    root.className = root.className.replace(/\bstate-\S+/, "state-" + s);
    var timing = document.getElementById("wr-timing");
    if (timing) {
      timing.hidden = s !== "starting";
    }
  }

  // apply shows a status answer (from /.waitingroom/status).
  function apply(st) {
    if (!st || typeof st.state !== "string") {
      return;
    }
    if (st.state === "running") {
      reload(renderedRunning ? retryAfter * 1000 : 0);
      return;
    }
    if (st.state === "failed" && state !== "failed") {
      // The server's page says why and when it retries.
      reload(0);
      return;
    }
    setState(st.state);
    if (typeof st.elapsed_seconds === "number" && st.state === "starting") {
      since = Date.now() - st.elapsed_seconds * 1000;
    }
    if (typeof st.estimate_seconds === "number") {
      estimate = st.estimate_seconds;
    }
    text("wr-state", st.problem ? "temporary problem" : st.state_words);
    text("wr-message", st.message);
    tick();
  }

  // fetchStatus asks waitingroom for the full state. An answer that is not
  // waitingroom's (no X-Waitingroom-State header) and not a proxy error
  // means the backend answers now: reload.
  function fetchStatus(done) {
    var req = new XMLHttpRequest();
    req.open("GET", base + "status");
    req.setRequestHeader("Accept", "application/json");
    req.timeout = 5000;
    req.onload = function () {
      if (!req.getResponseHeader("X-Waitingroom-State")) {
        if (req.status < 500) {
          reload(0);
        }
      } else {
        try {
          apply(JSON.parse(req.responseText));
        } catch (e) {
          // not JSON: keep waiting
        }
      }
      if (done) {
        done();
      }
    };
    req.onerror = req.ontimeout = function () {
      if (done) {
        done();
      }
    };
    req.send();
  }

  function poll() {
    if (polling) {
      return;
    }
    polling = true;
    (function again() {
      if (reloading) {
        return;
      }
      fetchStatus(function () { setTimeout(again, 1000); });
    })();
  }

  function listen() {
    var es;
    try {
      es = new EventSource(base + "events");
    } catch (e) {
      poll();
      return;
    }
    var failures = 0;
    es.addEventListener("state", function (ev) {
      failures = 0;
      var e;
      try {
        e = JSON.parse(ev.data);
      } catch (err) {
        return;
      }
      if (e.state === "running" || (e.state === "failed" && state !== "failed")) {
        es.close();
        reload(e.state === "running" && renderedRunning ? retryAfter * 1000 : 0);
        return;
      }
      if (e.state !== state) {
        setState(e.state);
        text("wr-state", e.state_words);
        // Messages, estimates and retry times come with the full status.
        fetchStatus(null);
      }
    });
    es.onerror = function () {
      failures++;
      // CLOSED: the answer was not an event stream (the backend answers
      // there now, or an error). Repeated failures: polling is sturdier.
      if (es.readyState === 2 || failures >= 3) {
        es.close();
        poll();
      }
    };
  }

  setInterval(tick, 1000);
  if (window.EventSource) {
    listen();
  } else {
    poll();
  }
})();
