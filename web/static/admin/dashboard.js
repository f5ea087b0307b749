// The dashboard without this file is complete: forms post, pages render
// on the server. With it, actions go through the JSON API without leaving
// the page, and rows, timers and the event log update live from
// /api/events (Server-Sent Events). Everything shown is set as text, never
// as HTML.
(function () {
  'use strict';

  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : '';
  var skew = 0; // server clock minus ours, in ms
  var nowMeta = document.querySelector('meta[name="server-now"]');
  if (nowMeta) {
    var serverNow = Date.parse(nowMeta.content);
    if (!isNaN(serverNow)) { skew = serverNow - Date.now(); }
  }
  function now() { return Date.now() + skew; }

  function durationText(sec) {
    if (sec < 0) { return '0 s'; }
    if (sec < 1) { return Math.floor(sec * 1000) + ' ms'; }
    if (sec < 10) { return (Math.floor(sec * 10) / 10).toFixed(1) + ' s'; }
    if (sec < 60) { return Math.floor(sec) + ' s'; }
    if (sec < 3600) {
      var m = Math.floor(sec / 60), s = Math.floor(sec % 60);
      return s === 0 ? m + ' min' : m + ' min ' + s + ' s';
    }
    var h = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60);
    return mm === 0 ? h + ' h' : h + ' h ' + mm + ' min';
  }

  function agoText(iso) {
    if (!iso) { return 'never'; }
    var d = (now() - Date.parse(iso)) / 1000;
    if (isNaN(d)) { return ''; }
    if (d < 0) { return 'just now'; }
    if (d < 60) { return Math.floor(d) + ' s ago'; }
    if (d < 3600) { return Math.floor(d / 60) + ' min ago'; }
    if (d < 48 * 3600) { return Math.floor(d / 3600) + ' h ago'; }
    return Math.floor(d / 86400) + ' d ago';
  }

  function idleText(iso) {
    if (!iso) { return '—'; }
    var left = (Date.parse(iso) - now()) / 1000;
    if (left < 1) { return 'due now'; }
    return 'in ' + durationText(Math.floor(left));
  }

  function utcText(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ''; }
    return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  function budgetText(h) {
    if (h.budget_left === null || h.budget_left === undefined) { return h.wakes_today + ' (no limit)'; }
    return h.wakes_today + ' of ' + h.max_wakes_per_day + ' (' + h.budget_left + ' left)';
  }

  function lastWakeText(w) {
    if (!w) { return '—'; }
    var d = durationText(w.duration_seconds);
    return w.result === 'running' ? d : 'failed after ' + d;
  }

  function canWake(s) { return s !== 'running' && s !== 'starting'; }
  function canStop(s) { return s === 'running' || s === 'failed' || s === 'unknown'; }

  var flashTimer = null;
  function flash(text, isError) {
    var el = document.getElementById('flash');
    if (!el) { return; }
    el.textContent = text;
    el.className = isError ? 'flash error' : 'flash';
    el.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(function () { el.hidden = true; }, isError ? 15000 : 5000);
  }

  // Every element standing for a host: its table row, its detail card.
  function hostElements(host) {
    var out = [];
    document.querySelectorAll('[data-host]').forEach(function (el) {
      if (el.dataset.host === host && el.id !== 'log') { out.push(el); }
    });
    return out;
  }

  function setField(root, name, text) {
    root.querySelectorAll('[data-field="' + name + '"]').forEach(function (el) { el.textContent = text; });
  }

  function update(h) {
    hostElements(h.host).forEach(function (root) {
      // Answers and stream events may arrive out of order: never go back
      // to an older state.
      var have = parseInt(root.dataset.version || '0', 10);
      if (h.version < have) { return; }
      root.dataset.version = String(h.version);
      root.querySelectorAll('[data-field="state"]').forEach(function (el) {
        el.textContent = h.state;
        el.className = 'state state-' + h.state;
      });
      var reason = h.problem || (h.state === 'failed' || root.id === 'host-detail' ? (h.reason || '') : '');
      setField(root, 'reason', reason);
      // The table clamps a long reason to two lines: the tooltip has it all.
      root.querySelectorAll('[data-field="reason"]').forEach(function (el) { el.title = reason; });
      root.querySelectorAll('[data-field="activity"]').forEach(function (el) {
        el.dataset.at = h.last_activity || '';
        el.title = h.last_activity ? utcText(h.last_activity) : '';
        el.textContent = agoText(h.last_activity);
      });
      setField(root, 'activity-source', h.activity_source_text || h.activity_source || '');
      root.querySelectorAll('[data-field="idle"]').forEach(function (el) {
        el.dataset.until = h.idle_at || '';
        el.textContent = idleText(h.idle_at);
      });
      setField(root, 'budget', budgetText(h));
      setField(root, 'last-wake', lastWakeText(h.last_wake));
      setField(root, 'asleep', h.asleep_text || '');
      setField(root, 'saved', h.saved_text || '');
      root.querySelectorAll('button.wake').forEach(function (b) { b.disabled = !canWake(h.state); });
      root.querySelectorAll('summary.stop-open').forEach(function (s) {
        s.classList.toggle('is-disabled', !canStop(h.state));
        if (!canStop(h.state) && s.parentNode.open) { s.parentNode.open = false; }
      });
      if (root.id === 'host-detail' && h.last_wake) { addWake(h.last_wake); }
    });
  }

  // addWake puts a newly finished wake at the top of the host page's list.
  function addWake(w) {
    var table = document.getElementById('wakes');
    if (!table || !w.id) { return; }
    var body = table.tBodies[0];
    var seen = false;
    body.querySelectorAll('tr[data-wake]').forEach(function (tr) { if (tr.dataset.wake === w.id) { seen = true; } });
    if (seen) { return; }
    body.querySelectorAll('tr.empty').forEach(function (tr) { tr.remove(); });
    var tr = document.createElement('tr');
    tr.dataset.wake = w.id;
    var cells = [
      ['Requested', utcText(w.requested)], ['Who', w.client || '—'], ['Source', w.source_text || w.source || ''],
      ['Duration', durationText(w.duration_seconds)], ['Result', w.result + (w.reason ? ' — ' + w.reason : '')]
    ];
    cells.forEach(function (c) {
      var td = document.createElement('td');
      td.dataset.label = c[0];
      td.textContent = c[1];
      tr.appendChild(td);
    });
    body.insertBefore(tr, body.firstChild);
  }

  var maxLog = 300;
  function addLog(e) {
    var log = document.getElementById('log');
    if (!log) { return; }
    if (log.dataset.host && log.dataset.host !== e.host) { return; }
    log.querySelectorAll('li.empty').forEach(function (li) { li.remove(); });
    var li = document.createElement('li');
    li.className = 'level-' + e.level + ' fresh';
    var t = document.createElement('time');
    t.dateTime = e.at;
    t.textContent = utcText(e.at);
    li.appendChild(t);
    li.appendChild(document.createTextNode(' '));
    if (!log.dataset.host) {
      var a = document.createElement('a');
      a.href = '/hosts/' + encodeURIComponent(e.host);
      a.textContent = e.host;
      li.appendChild(a);
      li.appendChild(document.createTextNode(' '));
    }
    var span = document.createElement('span');
    span.className = 'text';
    span.textContent = e.text;
    li.appendChild(span);
    log.insertBefore(li, log.firstChild);
    while (log.children.length > maxLog) { log.removeChild(log.lastChild); }
  }

  // Actions: the forms post to the JSON API from here, so the page stays.
  document.querySelectorAll('form[data-action]').forEach(function (form) {
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      var action = form.dataset.action;
      var host = form.closest('[data-host]') ? form.closest('[data-host]').dataset.host : '';
      var buttons = form.querySelectorAll('button');
      buttons.forEach(function (b) { b.disabled = true; });
      fetch(form.action, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': csrf, 'Accept': 'application/json' }
      }).then(function (res) {
        return res.json().catch(function () { return { error: res.status + ' ' + res.statusText }; })
          .then(function (body) { return { ok: res.ok, body: body }; });
      }).then(function (r) {
        buttons.forEach(function (b) { b.disabled = false; });
        if (!r.ok) {
          flash((action === 'wake' ? 'Wake' : 'Stop') + ' of ' + host + ' failed: ' + (r.body.error || 'unknown error'), true);
          return;
        }
        var details = form.closest('details');
        if (details) { details.open = false; }
        update(r.body);
        flash(action === 'wake' ? 'Waking ' + host + '…' : 'Stopping ' + host + '…', false);
      }).catch(function (err) {
        buttons.forEach(function (b) { b.disabled = false; });
        flash('Request failed: ' + err, true);
      });
    });
  });

  // Timers count down between server updates.
  setInterval(function () {
    document.querySelectorAll('[data-field="idle"]').forEach(function (el) { el.textContent = idleText(el.dataset.until); });
    document.querySelectorAll('[data-field="activity"]').forEach(function (el) { el.textContent = agoText(el.dataset.at); });
  }, 1000);

  if (!window.EventSource || !document.querySelector('[data-host], #log')) { return; }
  var es = new EventSource('/api/events');
  es.addEventListener('host', function (m) { update(JSON.parse(m.data)); });
  es.addEventListener('event', function (m) { addLog(JSON.parse(m.data)); });
  es.addEventListener('hosts', function () {
    var n = document.getElementById('hosts-changed');
    if (n) { n.hidden = false; }
  });
  es.addEventListener('open', function () { document.body.dataset.live = 'yes'; });
  es.addEventListener('error', function () {
    if (es.readyState === EventSource.CLOSED) {
      document.body.dataset.live = 'no';
      flash('Live updates stopped (logged out?). Reload the page.', true);
    }
  });
}());
