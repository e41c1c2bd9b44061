/* The mobile group's phone screen: dispatched alerts, the truck's position relative to the officer,
 * the group's steps (acknowledge, on scene, resolve), its own position while on duty.
 *
 * Steps taken on a bad connection are kept in localStorage and sent, in order, when the connection
 * returns. Each carries an Idempotency-Key made when the officer tapped: if a send reached the
 * server but its answer was lost, the repeat returns the first answer and changes nothing. */
(function () {
    "use strict";

    var _ = SW._;
    var cfg = SW.config;
    var GROUP = cfg.groupId || "none";
    var QUEUE_KEY = "sealwatch.group.queue." + GROUP;
    var SEEN_KEY = "sealwatch.group.seen." + GROUP;
    var CACHE_KEY = "sealwatch.group.dispatches." + GROUP;
    var DUTY_KEY = "sealwatch.group.duty." + GROUP;
    var REFRESH_MS = 10000;
    var FLUSH_MS = 5000;
    var POSITION_EVERY_MS = 30000;
    var POSITION_MOVED_M = 100;
    var PATHS = { acknowledge: "acknowledge", on_scene: "on-scene", resolve: "resolve" };
    var STEP_NAMES = {
        acknowledge: _("Acknowledge"),
        on_scene: _("On scene"),
        resolve: _("Resolve")
    };

    var list = document.getElementById("mg-list");
    var template = document.getElementById("mg-card");
    var state = { alerts: [], me: null, watch: null, lastPost: null, online: navigator.onLine, audio: null };
    var flushing = false;

    // ---- storage ----

    function read(key, fallback) {
        try { var v = JSON.parse(localStorage.getItem(key)); return v === null ? fallback : v; }
        catch (e) { return fallback; }
    }
    function write(key, value) { localStorage.setItem(key, JSON.stringify(value)); }
    function queue() { return read(QUEUE_KEY, []); }
    function newKey() {
        if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID().replace(/-/g, ""); }
        return Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
    }

    // ---- geometry (WGS 84 sphere is plenty for "how far, which way") ----

    var R = 6371008.8;
    function rad(d) { return d * Math.PI / 180; }
    function distance(a, b) {
        var dlat = rad(b.lat - a.lat), dlon = rad(b.lon - a.lon);
        var h = Math.sin(dlat / 2) * Math.sin(dlat / 2) +
            Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dlon / 2) * Math.sin(dlon / 2);
        return 2 * R * Math.asin(Math.sqrt(h));
    }
    function bearing(a, b) {
        var y = Math.sin(rad(b.lon - a.lon)) * Math.cos(rad(b.lat));
        var x = Math.cos(rad(a.lat)) * Math.sin(rad(b.lat)) -
            Math.sin(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.cos(rad(b.lon - a.lon));
        return (Math.atan2(y, x) * 180 / Math.PI + 360) % 360;
    }
    var COMPASS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
    function compass(deg) { return SW.label("compass", COMPASS[Math.round(deg / 45) % 8]); }

    // ---- connection state and notices ----

    function setOnline(online) {
        state.online = online;
        var net = document.getElementById("mg-net");
        net.dataset.state = online ? "online" : "offline";
        net.textContent = online ? _("Online") : _("Offline");
        net.title = online ? "" : _("Your steps are kept and sent when the connection returns.");
    }

    function notice(text) {
        var box = document.getElementById("mg-notice");
        box.textContent = text;
        box.hidden = !text;
    }

    function showQueue() {
        var n = queue().length;
        var box = document.getElementById("mg-queue");
        box.hidden = n === 0;
        box.textContent = _("Waiting to send: {n}", { n: n });
        box.dataset.count = String(n);
    }

    // ---- sound and vibration for a new dispatch ----

    function unlockAudio() {
        var Ctx = window.AudioContext || window.webkitAudioContext;
        if (!state.audio && Ctx) { state.audio = new Ctx(); }
        if (state.audio && state.audio.state === "suspended") { state.audio.resume(); }
    }

    function alarm() {
        if (navigator.vibrate) { navigator.vibrate([400, 150, 400, 150, 400]); }
        var ctx = state.audio;
        if (!ctx) { return; }
        [0, 0.35, 0.7].forEach(function (offset) {
            var osc = ctx.createOscillator(), gain = ctx.createGain();
            osc.frequency.value = 880;
            gain.gain.setValueAtTime(0.4, ctx.currentTime + offset);
            gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + offset + 0.25);
            osc.connect(gain); gain.connect(ctx.destination);
            osc.start(ctx.currentTime + offset); osc.stop(ctx.currentTime + offset + 0.26);
        });
    }

    // ---- the group's steps on an alert ----

    // What the group already did since the alert's latest dispatch.
    function groupDone(alert) {
        var kinds = alert.history.map(function (h) { return h.kind; });
        var after = kinds.slice(kinds.lastIndexOf("dispatched") + 1);
        return { acknowledge: after.indexOf("acknowledged") >= 0, on_scene: after.indexOf("on_scene") >= 0 };
    }

    function pendingSteps(alertId) {
        return queue().filter(function (q) { return q.alertId === alertId; }).map(function (q) { return q.step; });
    }

    function take(alertId, step, body) {
        var q = queue();
        q.push({ key: newKey(), alertId: alertId, step: step, body: body || {}, at: new Date().toISOString() });
        write(QUEUE_KEY, q);
        showQueue();
        render();
        flush();
    }

    function flush() {
        if (flushing || queue().length === 0) { showQueue(); return Promise.resolve(); }
        flushing = true;
        function next() {
            var q = queue();
            if (q.length === 0) { return Promise.resolve(); }
            var item = q[0];
            return fetch("/api/alerts/" + item.alertId + "/" + PATHS[item.step], {
                method: "POST",
                credentials: "same-origin",
                headers: { "Content-Type": "application/json", "Accept": "application/json", "Idempotency-Key": item.key },
                body: JSON.stringify(item.body)
            }).then(function (resp) {
                setOnline(true);
                if (resp.status === 401) { SW.loginAgain(); return null; }
                if (resp.status >= 500 || resp.status === 429) { return null; }  // the server's trouble: try later
                write(QUEUE_KEY, queue().filter(function (x) { return x.key !== item.key; }));
                if (!resp.ok) {
                    return resp.json().catch(function () { return {}; }).then(function (b) {
                        notice(_("Not done: {step} on alert {id}. {reason}", {
                            step: STEP_NAMES[item.step], id: item.alertId, reason: SW.errorText(resp.status)
                        }) + (b && typeof b.detail === "string" ? " (" + b.detail + ")" : ""));
                        return next();
                    });
                }
                return next();
            }, function () {
                setOnline(false);  // no answer: keep the step, send it again later with the same key
                return null;
            });
        }
        return next().then(function () {
            flushing = false;
            showQueue();
            return refresh();
        }, function () { flushing = false; showQueue(); });
    }

    // ---- the list ----

    function placeText(place) {
        if (!place) { return ""; }
        return _("{distance} {direction} of {place}", {
            distance: SW.fmt.km(place.distance_m), direction: SW.label("compass", place.compass), place: place.name
        });
    }

    function truckText(alert) {
        var t = alert.truck, pos = t ? { lat: t.lat, lon: t.lon } : (alert.lat !== null ? { lat: alert.lat, lon: alert.lon } : null);
        if (!pos) { return { text: _("No position"), pos: null }; }
        var parts = [];
        if (state.me) {
            parts.push(_("{distance} {direction} from you", {
                distance: SW.fmt.km(distance(state.me, pos)), direction: compass(bearing(state.me, pos))
            }));
        }
        if (t) {
            if (t.speed_kmh !== null) { parts.push(SW.fmt.speed(t.speed_kmh)); }
            parts.push(_("position {age} old", { age: SW.fmt.age((Date.now() - Date.parse(t.t)) / 1000) }));
        } else {
            parts.push(_("where the alert was raised"));
        }
        return { text: _("Truck") + ": " + parts.join(" · "), pos: pos };
    }

    function ageText(alert) {
        return SW.fmt.age((Date.now() - Date.parse(alert.brief.first_t)) / 1000);
    }

    function card(alert) {
        var node = template.content.firstElementChild.cloneNode(true);
        var b = alert.brief;
        node.dataset.alertId = String(alert.id);
        node.dataset.status = alert.status;
        node.classList.add(alert.severity);
        if (alert.status === "resolved") { node.classList.add("resolved"); }
        node.querySelector(".mg-type").textContent = SW.label("alert_type", alert.type);
        if (alert.late) {  // revealed by a backlog: it happened at first_t, the age counts from then
            var badge = document.createElement("span");
            badge.className = "sw-badge late";
            badge.textContent = _("found late");
            node.querySelector(".mg-type").appendChild(badge);
        }
        var age = node.querySelector(".mg-age");
        age.dataset.first = b.first_t;
        age.textContent = ageText(alert);
        node.querySelector(".mg-plate").textContent = b.plate || "–";
        node.querySelector(".mg-carrier").textContent = b.carrier ? b.carrier.name : "";
        node.querySelector(".mg-place").textContent = placeText(b.place);
        var truck = truckText(alert);
        node.querySelector(".mg-truck").textContent = truck.text;
        var nav = node.querySelector(".mg-nav");
        if (truck.pos) {
            var ll = truck.pos.lat.toFixed(6) + "," + truck.pos.lon.toFixed(6);
            nav.href = "geo:" + ll + "?q=" + ll + "(" + encodeURIComponent(b.plate || alert.transit_id) + ")";
        } else {
            nav.remove();
        }
        var done = groupDone(alert), pending = pendingSteps(alert.id);
        var open = alert.status !== "resolved";
        var shown = {
            acknowledge: open && alert.status === "dispatched" && !done.acknowledge && SW.may("acknowledge"),
            on_scene: open && alert.status === "dispatched" && !done.on_scene && SW.may("on_scene"),
            resolve: open && SW.may("resolve")
        };
        node.querySelectorAll(".mg-step").forEach(function (button) {
            var step = button.dataset.step;
            if (!shown[step]) { button.remove(); return; }
            if (pending.indexOf(step) >= 0) {
                button.disabled = true;
                button.classList.add("pending");
                button.textContent = STEP_NAMES[step] + " · " + _("waiting to send");
            }
            button.addEventListener("click", function () {
                unlockAudio();
                if (step === "resolve") {
                    var form = node.querySelector(".mg-resolve");
                    form.hidden = !form.hidden;
                    return;
                }
                take(alert.id, step, {});
            });
        });
        var form = node.querySelector(".mg-resolve");
        form.addEventListener("submit", function (ev) {
            ev.preventDefault();
            take(alert.id, "resolve", { outcome: form.elements.outcome.value, comment: form.elements.comment.value });
        });
        if (!open) {
            form.remove();
            var outcome = document.createElement("div");
            outcome.className = "mg-outcome";
            outcome.textContent = SW.label("outcome", alert.outcome) + (alert.comment ? " — " + alert.comment : "");
            node.querySelector(".mg-actions").replaceWith(outcome);
        }
        var history = node.querySelector(".mg-history");
        alert.history.forEach(function (h) {
            var li = document.createElement("li");
            li.textContent = SW.fmt.clock(h.at) + " " + SW.label("step", h.kind) + " · " + h.actor;
            history.appendChild(li);
        });
        return node;
    }

    function render() {
        list.textContent = "";
        state.alerts.forEach(function (a) { list.appendChild(card(a)); });
        document.getElementById("mg-empty").hidden = state.alerts.length > 0;
    }

    function tick() {
        list.querySelectorAll(".mg-age").forEach(function (el) {
            el.textContent = SW.fmt.age((Date.now() - Date.parse(el.dataset.first)) / 1000);
        });
    }

    function announceNew() {
        var seen = read(SEEN_KEY, {});
        var fresh = state.alerts.filter(function (a) {
            var key = a.id + "@" + a.dispatched_at;
            return a.status === "dispatched" && !groupDone(a).acknowledge && !seen[key];
        });
        fresh.forEach(function (a) {
            seen[a.id + "@" + a.dispatched_at] = Date.now();
            var node = list.querySelector('[data-alert-id="' + a.id + '"]');
            if (node) { node.classList.add("fresh"); }
        });
        if (fresh.length) {
            alarm();
            notice(_("New dispatch: {type}, {plate}", {
                type: SW.label("alert_type", fresh[0].type), plate: fresh[0].brief.plate || fresh[0].transit_id
            }));
        }
        write(SEEN_KEY, seen);
    }

    function refresh() {
        return SW.api("/api/group/dispatches").then(function (data) {
            setOnline(true);
            state.alerts = data.alerts;
            write(CACHE_KEY, data.alerts);
            render();
            announceNew();
        }, function (err) {
            if (err && err.status === undefined) { setOnline(false); }
        });
    }

    // ---- the group's own position, while on duty ----

    function postPosition(pos, available) {
        if (!SW.may("position")) { return; }
        var body = { lat: pos.lat, lon: pos.lon, accuracy_m: pos.accuracy, t: pos.t, available: available };
        state.lastPost = { at: Date.now(), lat: pos.lat, lon: pos.lon };
        SW.api("/api/group/position", { method: "POST", body: body }).then(function () { setOnline(true); }, function (err) {
            if (err && err.status === undefined) { setOnline(false); state.lastPost = null; }
        });
    }

    function onPosition(p) {
        state.me = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy,
            t: new Date(p.timestamp || Date.now()).toISOString() };
        document.getElementById("mg-me").textContent = _("Your position: ±{n} m", { n: SW.fmt.integer(state.me.accuracy) });
        var last = state.lastPost;
        if (!last || Date.now() - last.at > POSITION_EVERY_MS || distance(last, state.me) > POSITION_MOVED_M) {
            postPosition(state.me, true);
        }
        render();
    }

    function onDuty(on) {
        write(DUTY_KEY, on);
        if (on && navigator.geolocation && state.watch === null) {
            state.watch = navigator.geolocation.watchPosition(onPosition, function (err) {
                document.getElementById("mg-me").textContent = _("Location is not available: {reason}", { reason: err.message });
            }, { enableHighAccuracy: true, maximumAge: 10000, timeout: 30000 });
        } else if (!on && state.watch !== null) {
            navigator.geolocation.clearWatch(state.watch);
            state.watch = null;
            if (state.me) { postPosition(state.me, false); }  // off duty: not to be suggested for dispatch
        }
    }

    // ---- start ----

    var duty = document.getElementById("mg-duty");
    duty.checked = !!read(DUTY_KEY, false);
    duty.addEventListener("change", function () { unlockAudio(); onDuty(duty.checked); });
    document.addEventListener("click", unlockAudio);
    window.addEventListener("online", function () { setOnline(true); flush(); });
    window.addEventListener("offline", function () { setOnline(false); });
    setOnline(navigator.onLine);
    state.alerts = read(CACHE_KEY, []);  // what was last seen, until the server answers
    render();
    showQueue();
    onDuty(duty.checked);
    flush().then(refresh);
    setInterval(function () { if (!flushing) { refresh(); } }, REFRESH_MS);
    setInterval(flush, FLUSH_MS);
    setInterval(tick, 15000);
    if ("serviceWorker" in navigator) {
        navigator.serviceWorker.register("/group/sw.js", { scope: cfg.swScope }).catch(function () { /* works without */ });
    }
})();
