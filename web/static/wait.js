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

  // t is a message of the page's language, from its data-t-* attributes
  // (web/locales), with {name} filled in from args; English when absent.
  var english = {
    "any-moment": "any moment now", "about-seconds": "about {n} s", "about-minutes": "about {n} min",
    "seconds": "{s} s", "minutes-seconds": "{m} min {s} s", "hours-minutes": "{h} h {m} min",
    "problem": "temporary problem", "longer": "Taking longer than usual: it usually takes {usual}."
  };
  function t(key, args) {
    var s = root.getAttribute("data-t-" + key);
    if (s === null) {
      s = english[key] || "";
    }
    return s.replace(/\{(\w+)\}/g, function (m, name) {
      return args && args.hasOwnProperty(name) ? String(args[name]) : m;
    });
  }

  function elapsedText(s) {
    s = Math.max(0, Math.floor(s));
    if (s < 60) {
      return t("seconds", {s: s});
    }
    if (s < 3600) {
      return t("minutes-seconds", {m: Math.floor(s / 60), s: s % 60});
    }
    return t("hours-minutes", {h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60)});
  }

  function aboutText(s) {
    s = Math.ceil(s);
    if (s <= 0) {
      return t("any-moment");
    }
    if (s <= 10) {
      return t("about-seconds", {n: s});
    }
    if (s < 60) {
      return t("about-seconds", {n: Math.ceil(s / 5) * 5});
    }
    return t("about-minutes", {n: Math.round(s / 60)});
  }

  // progress is how far a wake is, in percent, from its estimate (the
  // median of past wakes): 90 % at the estimate, then ever slower towards
  // 99 %. It never reaches the end before the host is ready; the page
  // loads the site then.
  function progress(elapsed, est) {
    if (elapsed <= est) {
      return 90 * elapsed / est;
    }
    return 90 + 9 * (1 - Math.exp(-(elapsed - est) / est));
  }

  function tick() {
    if (state !== "starting") {
      return;
    }
    var elapsed = (Date.now() - since) / 1000;
    text("wr-elapsed", elapsedText(elapsed));
    if (isFinite(estimate) && estimate > 0) {
      text("wr-remaining", aboutText(estimate - elapsed));
      var bar = document.getElementById("wr-progress");
      if (bar) {
        bar.value = Math.round(progress(elapsed, estimate) * 10) / 10;
      }
      var longer = document.getElementById("wr-longer");
      if (longer) {
        // Said once the usual time has passed: the bar alone would only
        // seem to stall.
        longer.hidden = elapsed <= estimate;
        longer.textContent = t("longer", {usual: elapsedText(estimate)});
      }
    }
  }

  // localRetry says the retry time of a failed wake in the visitor's own
  // time zone and language: the server knows only UTC. It replaces the
  // server's time (data-retry-at-text) in the message.
  function localRetry() {
    var utc = root.getAttribute("data-retry-at-text");
    var at = new Date(root.getAttribute("data-retry-at") || "");
    var msg = document.getElementById("wr-message");
    if (!utc || isNaN(at.getTime()) || !msg || msg.textContent.indexOf(utc) < 0) {
      return;
    }
    var local;
    try {
      local = at.toLocaleTimeString(document.documentElement.lang || undefined,
        {hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"});
    } catch (e) {
      return; // an old browser: UTC it stays
    }
    msg.textContent = msg.textContent.replace(utc, local);
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
    ["wr-timing", "wr-progress"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) {
        el.hidden = s !== "starting";
      }
    });
    var longer = document.getElementById("wr-longer");
    if (longer && s !== "starting") {
      longer.hidden = true;
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
    // The status answer is in the page's language too (the browser sends
    // the same Accept-Language).
    text("wr-state", st.problem ? t("problem") : st.state_words);
    text("wr-message", st.message);
    localRetry();
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
        // Events are shared by every visitor of the host, in English:
        // the page's own words for the state.
        text("wr-state", t(e.state) || e.state_words);
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

  localRetry();
  setInterval(tick, 1000);
  if (window.EventSource) {
    listen();
  } else {
    poll();
  }
})();
