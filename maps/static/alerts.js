/* Sealwatch alerts: open alerts list + markers, kept live from the SSE stream; acknowledge button. */
(function (global) {
    "use strict";

    var ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
    var RANK = { critical: 0, warning: 1, info: 2 };

    // Alert fields come from the field and from operators: never insert them unescaped.
    function esc(value) {
        return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
            return ENTITIES[c];
        });
    }

    function label(type) { return String(type).replace(/_/g, " "); }

    // The page's catalog when it has one (sw.js), else the English text.
    function tr(text) { return global.SW && global.SW._ ? global.SW._(text) : text; }

    // Found late: a backlog sent after a later fix revealed it; first_t is when it happened.
    function lateBadge(a) {
        return a.late ? ' <span class="alert-late sw-badge late">' + esc(tr("found late")) + "</span>" : "";
    }

    function utc(iso) {
        var d = new Date(iso);
        return isNaN(d.getTime()) ? esc(iso) : d.toISOString().slice(11, 19) + " UTC";
    }

    var state = { alerts: {}, markers: {}, map: null, group: null, opts: null, lastId: 0, source: null };

    function setStatus(text, error) {
        var el = document.getElementById("sealwatch-alerts-status");
        if (!el) { return; }
        el.textContent = text;
        el.classList.toggle("alerts-error", !!error);
    }

    function canAck(a) {
        return a.status === "open" || (a.status === "dispatched" && !a.acknowledged_at);
    }

    function popupHtml(a) {
        return "<b>" + esc(label(a.type)) + "</b> (" + esc(a.severity) + ")" +
            "<br>Transit: " + esc(a.transit_id) + "<br>Seal: " + esc(a.seal_id) +
            "<br>Status: " + esc(a.status) + (a.group_id ? " → " + esc(a.group_id) : "") +
            "<br>Seen: " + utc(a.last_t) + (a.count > 1 ? " (×" + esc(a.count) + ")" : "") +
            (a.late ? "<br>" + lateBadge(a) + " " + utc(a.first_t) + " → " + utc(a.detected_at) : "");
    }

    function updateMarker(a) {
        var old = state.markers[a.id];
        if (old) { state.group.removeLayer(old); delete state.markers[a.id]; }
        if (a.status === "resolved" || a.lat === null || a.lon === null) { return; }
        var marker = L.circleMarker([a.lat, a.lon], {
            radius: 13,
            color: state.opts.colors[a.severity] || "#52606d",
            weight: 3,
            fill: false,
            className: "alert-marker alert-" + a.severity + " alert-type-" + a.type
        }).bindPopup(popupHtml(a));
        marker.addTo(state.group);
        state.markers[a.id] = marker;
    }

    function render() {
        var list = document.getElementById("sealwatch-alerts-list");
        if (!list) { return; }
        var items = Object.keys(state.alerts).map(function (k) { return state.alerts[k]; });
        items.sort(function (x, y) {
            return (RANK[x.severity] - RANK[y.severity]) || (y.id - x.id);
        });
        list.innerHTML = items.map(function (a) {
            var cls = "alert-item alert-" + esc(a.severity) + (a.escalated_at ? " alert-escalated" : "");
            var ack = canAck(a) ? '<button class="alert-ack" data-ack="' + esc(a.id) + '">Acknowledge</button>' : "";
            return '<li class="' + cls + '" data-alert-id="' + esc(a.id) + '">' + ack +
                '<div class="alert-title">' + esc(label(a.type)) + (a.escalated_at ? " · escalated" : "") + lateBadge(a) + "</div>" +
                '<div class="alert-meta">' + esc(a.transit_id) + " · " + esc(a.seal_id) + " · " + esc(a.status) +
                " · " + utc(a.late ? a.first_t : a.last_t) + "</div></li>";
        }).join("");
        var count = document.getElementById("sealwatch-alerts-count");
        if (count) { count.textContent = items.length; }
    }

    function apply(a) {
        if (a.status === "resolved") { delete state.alerts[a.id]; } else { state.alerts[a.id] = a; }
        updateMarker(a);
    }


    function acknowledge(id, button) {
        button.disabled = true;
        fetch(state.opts.listUrl + "/" + encodeURIComponent(id) + "/acknowledge", {
            method: "POST",
            // The session cookie authenticates (same origin); the logged-in user is the actor.
            headers: { "Content-Type": "application/json" },
            body: "{}"
        }).then(function (r) {
            if (!r.ok && r.status !== 409) { throw new Error("HTTP " + r.status); }
            // The change itself arrives on the stream; 409 means someone else acknowledged first.
        }).catch(function (err) {
            button.disabled = false;
            setStatus("acknowledge failed: " + err.message, true);
        });
    }

    function connect() {
        // ?after= only matters for the first connection; on reconnect the browser sends Last-Event-ID.
        var source = new EventSource(state.opts.streamUrl + "?after=" + encodeURIComponent(state.lastId));
        state.source = source;
        source.addEventListener("alert", function (e) {
            var data = JSON.parse(e.data);
            state.lastId = data.stream_id;
            apply(data.alert);
            render();
            setStatus("live · last change " + new Date().toISOString().slice(11, 19) + " UTC");
        });
        source.onopen = function () { setStatus("live"); };
        source.onerror = function () { setStatus("stream interrupted, reconnecting", true); };
    }

    // A snapshot replaces the whole list: alerts resolved since the previous one disappear.
    function snapshot(alerts) {
        var seen = {};
        alerts.forEach(function (a) { seen[a.id] = true; apply(a); });
        Object.keys(state.alerts).forEach(function (id) {
            if (!seen[id]) { apply({ id: Number(id), status: "resolved" }); }
        });
        render();
    }

    function load() {
        var opts = state.opts;
        return fetch(opts.listUrl + "?status=unresolved").then(function (r) {
            if (r.status === 401) {  // the session expired or was ended: log in again, then come back
                global.location.assign("/login?next=" + encodeURIComponent(global.location.pathname));
            }
            if (!r.ok) { throw new Error("HTTP " + r.status); }
            state.lastId = r.headers.get("X-Alert-Stream-Id") || "0";
            return r.json();
        }).then(snapshot);
    }

    // The stream opens streamDelayMs after page load; until then the list is re-read every
    // pollMs, and the stream then replays everything after the last snapshot (nothing is lost).
    // Why the delay: headless Chromium's --virtual-time-budget (the live-map browser test)
    // never ends while a request is open, and an EventSource is one that never completes.
    function begin() {
        var started = Date.now();
        function step() {
            load().then(function () {
                if (Date.now() - started >= state.opts.streamDelayMs) {
                    connect();
                } else {
                    setStatus("polling, live stream in a few seconds");
                    setTimeout(step, state.opts.pollMs);
                }
            }).catch(function (err) {
                setStatus("alerts unavailable: " + err.message + ", retrying", true);
                setTimeout(step, 5000);
            });
        }
        step();
    }

    function start(map, group, opts) {
        state.map = map;
        state.group = group;
        state.opts = opts;
        var list = document.getElementById("sealwatch-alerts-list");
        if (list) {
            list.addEventListener("click", function (e) {
                var button = e.target.closest("[data-ack]");
                if (button) { acknowledge(button.getAttribute("data-ack"), button); return; }
                var item = e.target.closest("[data-alert-id]");
                var marker = item && state.markers[item.getAttribute("data-alert-id")];
                if (marker) { map.setView(marker.getLatLng(), Math.max(map.getZoom(), 10)); marker.openPopup(); }
            });
        }
        begin();
    }

    global.SealwatchAlerts = { start: start, esc: esc, state: state };
})(window);
