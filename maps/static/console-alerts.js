/* The console's alert panel: the server orders it (severity, then time), counts every type and
 * groups identical alerts ("9,960 Signal lost"), so a storm never pushes a critical alert out of it;
 * further pages on demand. Changes arrive over SSE (/api/alerts/stream) and re-read the first pages.
 * A new critical alert sounds and shows a desktop notification when the operator switched that on
 * (remembered in localStorage); the tab title carries the open count. */
(function (global) {
    "use strict";

    var PAGE = 50;
    var ALARM_KEY = "sealwatch.console.alarm";
    var state = {
        items: [], next: null, total: 0, counts: {}, bySeverity: {}, groups: [], type: "",
        status: "all", legacy: false, source: null, audio: null, reloadTimer: null, onOpen: function () {}, onChange: [], changeListeners: [],
        baseTitle: document.title, loadedPages: 1
    };
    var el = {};

    function since(iso) {
        var t = Date.parse(iso);
        return isNaN(t) ? "–" : SW.fmt.age((SWUnits.now() - t) / 1000);
    }

    function unitText(a) {
        var u = SWUnits.get(a.seal_id);
        return (u && u.plate ? u.plate + " · " : "") + a.seal_id;
    }

    function itemHtml(a) {
        return '<li class="cx-alert sev-' + SW.esc(a.severity) + ' st-' + SW.esc(a.status) +
            '" data-alert-id="' + SW.esc(a.id) + '" data-seal-id="' + SW.esc(a.seal_id) + '" tabindex="0">' +
            '<span class="cx-alert-sev">' + SW.esc(SW.label("severity", a.severity)) + "</span>" +
            '<span class="cx-alert-type">' + SW.esc(SW.label("alert_type", a.type)) +
            // Found late: a backlog sent after a later fix revealed it; first_t is when it happened.
            (a.late ? ' <span class="cx-late sw-badge">' + SW.esc(SW._("found late")) + "</span>" : "") + "</span>" +
            '<span class="cx-alert-age">' + SW.esc(since(a.raised_at || a.first_t)) + "</span>" +
            '<span class="cx-alert-unit">' + SW.esc(unitText(a)) + "</span>" +
            '<span class="cx-alert-status">' + SW.esc(SW.label("alert_status", a.status)) +
            (a.group_id && a.status === "dispatched" ? " → " + SW.esc(a.group_id) : "") +
            (a.count > 1 ? " · ×" + SW.esc(SW.fmt.integer(a.count)) : "") + "</span></li>";
    }

    function render() {
        el.list.innerHTML = state.items.map(itemHtml).join("");
        el.more.hidden = !state.next;
        var crit = state.bySeverity.critical || 0;
        el.total.textContent = SW._("{n} open alerts, {c} critical", {
            n: SW.fmt.integer(state.total), c: SW.fmt.integer(crit)
        });
        // The tab's badge and title count every unresolved alert, whatever the panel is narrowed to.
        var grand = state.grand === undefined ? state.total : state.grand;
        el.count.textContent = SW.fmt.integer(grand);
        el.count.classList.toggle("has-critical", (state.grandCritical === undefined ? crit : state.grandCritical) > 0);
        el.groups.innerHTML = state.groups.map(function (g) {
            var on = state.type === g.type;
            return '<button type="button" class="cx-chip sev-' + SW.esc(g.severity) + (on ? " active" : "") +
                '" data-type="' + SW.esc(g.type) + '" aria-pressed="' + on + '"><b>' + SW.esc(SW.fmt.integer(g.count)) +
                "</b> " + SW.esc(SW.label("alert_type", g.type)) + "</button>";
        }).join("");
        document.title = (grand ? "(" + SW.fmt.integer(grand) + ") " : "") + state.baseTitle;
        state.onChange.forEach(function (fn) { fn(state); });
    }

    // The older API: /api/alerts returns the newest alerts unordered by severity; order, count and group here.
    function legacyLoad() {
        return SW.api("/api/alerts?status=unresolved&limit=5000").then(function (all) {
            var RANKS = SWUnits.SEVERITY;
            var counts = {}, bySeverity = {}, groups = {};
            all.forEach(function (a) {
                counts[a.type] = (counts[a.type] || 0) + 1;
                bySeverity[a.severity] = (bySeverity[a.severity] || 0) + 1;
                var key = a.type + "|" + a.severity;
                var g = groups[key] || (groups[key] = { type: a.type, severity: a.severity, count: 0, newest_at: a.raised_at });
                g.count += 1;
            });
            var items = all.filter(function (a) {
                return (!state.type || a.type === state.type) && (state.status === "all" || a.status === state.status);
            });
            items.sort(function (x, y) {
                return (RANKS[x.severity] - RANKS[y.severity]) || (Date.parse(y.raised_at) - Date.parse(x.raised_at));
            });
            var shown = PAGE * state.loadedPages;
            return {
                total: all.length, counts: counts, by_severity: bySeverity,
                groups: Object.keys(groups).map(function (k) { return groups[k]; })
                    .sort(function (x, y) { return (RANKS[x.severity] - RANKS[y.severity]) || (y.count - x.count); }),
                items: items.slice(0, shown), next: items.length > shown ? "more" : null
            };
        });
    }

    function url(cursor, limit) {
        var q = ["limit=" + (limit || PAGE)];
        if (state.type) { q.push("type=" + encodeURIComponent(state.type)); }
        if (state.status !== "all") { q.push("state=" + encodeURIComponent(state.status)); }
        if (cursor) { q.push("cursor=" + encodeURIComponent(cursor)); }
        return "/api/console/alerts?" + q.join("&");
    }

    function take(body, append) {
        state.counts = body.counts || {};
        // The panel's total over every type, whatever type the list is narrowed to.
        var all = Object.keys(state.counts).reduce(function (n, k) { return n + state.counts[k]; }, 0);
        state.total = all || body.total;
        if (state.status === "all") { state.grand = state.total; state.grandCritical = (body.by_severity || {}).critical || 0; }
        state.bySeverity = body.by_severity || {};
        state.groups = body.groups || [];
        state.items = append ? state.items.concat(body.items) : body.items;
        state.next = body.next || null;
        el.status.textContent = "";
        el.status.classList.remove("error");
        render();
    }

    function fail(err) {
        el.status.textContent = SW._("Alerts unavailable: {error}", { error: err.message });
        el.status.classList.add("error");
    }

    // Re-read what is shown: the first page, or as many items as the operator has paged through.
    function load() {
        if (state.legacy) { return legacyLoad().then(function (b) { take(b, false); }, fail); }
        var limit = Math.min(500, PAGE * state.loadedPages);
        return SW.api(url(null, limit)).then(function (b) { take(b, false); }, function (err) {
            if (err.status === 404 || err.status === 405) {
                state.legacy = true;
                return load();
            }
            fail(err);
        });
    }

    function more() {
        state.loadedPages += 1;
        if (state.legacy || !state.next) { load(); return; }
        SW.api(url(state.next)).then(function (b) { take(b, true); }, fail);
    }

    function scheduleLoad() {
        if (state.reloadTimer) { return; }
        state.reloadTimer = global.setTimeout(function () { state.reloadTimer = null; load(); }, 1000);
    }

    // ---- sound and desktop notification for new critical alerts ----

    function alarmOn() { return global.localStorage.getItem(ALARM_KEY) === "1"; }

    function unlockAudio() {
        var Ctx = global.AudioContext || global.webkitAudioContext;
        if (!state.audio && Ctx) { state.audio = new Ctx(); }
        if (state.audio && state.audio.state === "suspended") { state.audio.resume(); }
    }

    function beep() {
        var ctx = state.audio;
        if (!ctx) { return; }
        [0, 0.3].forEach(function (offset) {
            var osc = ctx.createOscillator(), gain = ctx.createGain();
            osc.frequency.value = 988;
            gain.gain.setValueAtTime(0.35, ctx.currentTime + offset);
            gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + offset + 0.22);
            osc.connect(gain);
            gain.connect(ctx.destination);
            osc.start(ctx.currentTime + offset);
            osc.stop(ctx.currentTime + offset + 0.23);
        });
    }

    function alarm(a) {
        global.__swAlarms = (global.__swAlarms || 0) + 1;  // what the browser tests count
        if (!alarmOn()) { return; }
        beep();
        if (global.Notification && global.Notification.permission === "granted") {
            var n = new global.Notification(SW._("Critical alert: {type}", { type: SW.label("alert_type", a.type) }), {
                body: unitText(a), tag: "sealwatch-alert-" + a.id
            });
            n.onclick = function () { global.focus(); state.onOpen(a.id); };
        }
    }

    function setupAlarm() {
        el.alarm.checked = alarmOn();
        el.alarm.addEventListener("change", function () {
            global.localStorage.setItem(ALARM_KEY, el.alarm.checked ? "1" : "0");
            if (el.alarm.checked) {
                unlockAudio();
                if (global.Notification && global.Notification.permission === "default") {
                    global.Notification.requestPermission();
                }
            }
        });
        if (alarmOn()) {
            // Browsers start audio only after a gesture: the first click anywhere enables it.
            document.addEventListener("click", unlockAudio, { once: true });
        }
    }

    // ---- live stream ----

    function connect() {
        var source = new EventSource("/api/alerts/stream");
        state.source = source;
        source.addEventListener("alert", function (e) {
            var data = JSON.parse(e.data);
            var a = data.alert || {};
            if (data.change === "raised" && a.severity === "critical") { alarm(a); }
            state.changeListeners.forEach(function (fn) { fn(a, data.change); });
            scheduleLoad();
        });
        source.addEventListener("session-ended", function () { source.close(); SW.loginAgain(); });
        source.onerror = function () {
            el.status.textContent = SW._("Live updates interrupted, reconnecting");
            // A closed session also drops the stream: ask who we are; a 401 goes to the login form.
            SW.api("/api/auth/me").catch(function () {});
        };
        source.onopen = function () { el.status.textContent = ""; };
    }

    function init(onOpen) {
        state.onOpen = onOpen;
        el.list = document.getElementById("cx-alert-list");
        el.more = document.getElementById("cx-alerts-more");
        el.total = document.getElementById("cx-alerts-total");
        el.count = document.getElementById("cx-alerts-count");
        el.groups = document.getElementById("cx-alert-groups");
        el.status = document.getElementById("cx-alerts-status");
        el.alarm = document.getElementById("cx-alarm");
        state.baseTitle = document.title;
        el.more.addEventListener("click", more);
        el.state = document.getElementById("cx-alerts-state");
        el.state.addEventListener("change", function () {
            state.status = el.state.value;
            state.loadedPages = 1;
            load();
        });
        el.groups.addEventListener("click", function (e) {
            var chip = e.target.closest("[data-type]");
            if (!chip) { return; }
            state.type = state.type === chip.dataset.type ? "" : chip.dataset.type;
            state.loadedPages = 1;
            load();
        });
        function open(e) {
            var item = e.target.closest("[data-alert-id]");
            if (item) { onOpen(Number(item.dataset.alertId), item.dataset.sealId); }
        }
        el.list.addEventListener("click", open);
        el.list.addEventListener("keydown", function (e) { if (e.key === "Enter") { open(e); } });
        setupAlarm();
        load().then(connect);
        // The stream says when to re-read; a slow re-read every 30 s covers a change made between
        // the first read and the stream's start, and a stream that is reconnecting.
        global.setInterval(scheduleLoad, 30000);
    }

    global.SWAlerts = {
        init: init,
        reload: load,
        render: function () { if (el.list) { render(); } },
        state: state,
        onChange: function (fn) { state.onChange.push(fn); },
        onAlert: function (fn) { state.changeListeners.push(fn); }
    };
})(window);
