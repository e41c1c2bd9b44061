/* Playback of one transit: each seal's truck moves along its track over time, the travelled part
 * drawn; alerts appear on the map when they were raised and are marked on the timeline (a click
 * jumps there); a time slider, play/pause and a speed choice. Times in the display time zone.
 * The replay starts at release, zoomed to the track, at a speed that plays the whole in about a minute. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var id = SW.config.transitId;
    var SPEEDS = [1, 10, 30, 60, 120, 300, 600, 1200, 3600];
    var TARGET_S = 60;  // the whole transit in about a minute, at the nearest offered speed
    var slider = document.getElementById("pb-slider");
    var speedSelect = document.getElementById("pb-speed");
    var playButton = document.getElementById("pb-play");
    var player = { t: 0, start: 0, end: 0, playing: false, last: null, speed: 60 };
    var seals = [], alerts = [];
    var map;

    // The position at time t: interpolated between the fixes around it (binary search by time).
    function at(points, t) {
        if (!points.length || t < points[0][0]) { return null; }
        var lo = 0, hi = points.length - 1;
        if (t >= points[hi][0]) { return { i: hi, lon: points[hi][1], lat: points[hi][2], p: points[hi] }; }
        while (hi - lo > 1) {
            var mid = (lo + hi) >> 1;
            if (points[mid][0] <= t) { lo = mid; } else { hi = mid; }
        }
        var a = points[lo], b = points[hi], k = (t - a[0]) / Math.max(1, b[0] - a[0]);
        return { i: lo, lon: a[1] + (b[1] - a[1]) * k, lat: a[2] + (b[2] - a[2]) * k, p: a };
    }

    function nearestSpeed(spanMs) {
        var wanted = spanMs / 1000 / TARGET_S, best = SPEEDS[0];
        SPEEDS.forEach(function (s) { if (Math.abs(Math.log(s / wanted)) < Math.abs(Math.log(best / wanted))) { best = s; } });
        return best;
    }

    function show(t) {
        player.t = Math.max(player.start, Math.min(player.end, t));
        slider.value = String(player.t);
        document.getElementById("pb-time").textContent = SW.fmt.time(player.t / 1000);
        var now = document.getElementById("pb-now");
        now.textContent = "";
        seals.forEach(function (s) {
            var pos = at(s.points, player.t);
            if (!pos) { s.marker.setStyle({ opacity: 0, fillOpacity: 0 }); s.done.setLatLngs([]); return; }
            s.marker.setLatLng([pos.lat, pos.lon]).setStyle({ opacity: 1, fillOpacity: 1 });
            var path = s.points.slice(0, pos.i + 1).map(function (p) { return [p[2], p[1]]; });
            path.push([pos.lat, pos.lon]);
            s.done.setLatLngs(path);
            now.appendChild(el("dt", { text: _("Seal {seal}", { seal: s.seal_id }) }));
            now.appendChild(el("dd", { text: SW.fmt.speed(pos.p[3]) + " · " + SW.label("seal_state", pos.p[4]) }));
        });
        var raised = alerts.filter(function (a) { return Date.parse(a.first_t) <= player.t; });
        alerts.forEach(function (a) {
            if (!a.marker) { return; }
            var visible = Date.parse(a.first_t) <= player.t;
            a.marker.setStyle({ opacity: visible ? 1 : 0, fillOpacity: visible ? 1 : 0 });
        });
        now.appendChild(el("dt", { text: _("Alerts so far") }));
        now.appendChild(el("dd", { text: raised.length ? raised.map(function (a) { return SW.label("alert_type", a.type); }).join(", ") : "–" }));
    }

    function frame(ts) {
        if (!player.playing) { return; }
        if (player.last !== null) {
            show(player.t + (ts - player.last) * player.speed);
            if (player.t >= player.end) { pause(); return; }
        }
        player.last = ts;
        requestAnimationFrame(frame);
    }

    function play() {
        if (player.t >= player.end) { show(player.start); }
        player.playing = true;
        player.last = null;
        playButton.textContent = _("Pause");
        playButton.dataset.state = "playing";
        requestAnimationFrame(frame);
    }

    function pause() {
        player.playing = false;
        playButton.textContent = _("Play");
        playButton.dataset.state = "paused";
    }

    function marks(data) {
        var box = document.getElementById("pb-marks"), span = Math.max(1, player.end - player.start);
        function place(t) { return Math.max(0, Math.min(100, (Date.parse(t) - player.start) / span * 100)) + "%"; }
        data.observations.forEach(function (o) {
            box.appendChild(el("span", { className: "pb-mark obs", style: "left:" + place(o.t),
                title: SW.label("observation", o.kind) + " · " + SW.fmt.time(o.t) }));
        });
        alerts.forEach(function (a) {
            var mark = el("button", { type: "button", className: "pb-mark " + a.severity, style: "left:" + place(a.first_t),
                "data-alert-id": a.id, title: SW.label("alert_type", a.type) + " · " + SW.fmt.time(a.first_t),
                "aria-label": SW.label("alert_type", a.type) + " " + SW.fmt.time(a.first_t) });
            mark.addEventListener("click", function () { pause(); show(Date.parse(a.first_t)); });
            box.appendChild(mark);
        });
    }

    SW.api("/api/history/transits/" + encodeURIComponent(id) + "/playback").then(function (data) {
        document.getElementById("pb-summary").textContent = [
            data.plate, data.carrier, (data.route_code || _("ad hoc")) + " · " + data.office_departure + " → " + data.office_destination,
            SW.label("channel", data.channel), SW.label("transit_status", data.status),
            _("released {time}", { time: SW.fmt.time(data.released_at) }), _("deadline {time}", { time: SW.fmt.time(data.deadline) })
        ].filter(Boolean).join(" · ");
        map = SWMap.create("pb-map");
        SWMap.zones(map, data.zones);
        var context = [SWMap.corridor(map, data.corridor, data.corridor_width_m), SWMap.route(map, data.route_line)];
        var trackLayers = [];
        seals = data.seals.filter(function (s) { return s.points.length; });
        seals.forEach(function (s) {
            var line = s.points.map(function (p) { return [p[2], p[1]]; });
            trackLayers.push(L.polyline(line, { color: "#90a4ae", weight: 3, opacity: 0.7 }).addTo(map));
            s.done = L.polyline([], { color: "#0077b6", weight: 5 }).addTo(map);
            s.marker = L.circleMarker(line[0], { radius: 9, color: "#fff", weight: 3, fillColor: "#0077b6", fillOpacity: 1 })
                .bindTooltip(SW.esc(_("Seal {seal}", { seal: s.seal_id }))).addTo(map);
        });
        alerts = data.alerts;
        alerts.forEach(function (a) {
            if (a.lat !== null && a.lon !== null) { a.marker = SWMap.alertMarker(a).addTo(map); }
        });
        SWMap.fit(map, trackLayers.length ? trackLayers : context);
        player.start = data.start_ms;
        player.end = Math.max(data.end_ms, data.start_ms + 1);
        slider.min = String(player.start);
        slider.max = String(player.end);
        player.speed = nearestSpeed(player.end - player.start);
        speedSelect.value = String(player.speed);
        document.getElementById("pb-range").textContent = SW.fmt.time(player.start / 1000) + " – " + SW.fmt.time(player.end / 1000);
        marks(data);
        show(player.start);
        if (!seals.length) { playButton.disabled = true; Screens.showError(document.getElementById("sw-failure"), { message: _("No fixes were recorded on this transit.") }); }
    }, function (err) { Screens.showError(document.getElementById("sw-failure"), err); });

    playButton.addEventListener("click", function () { if (player.playing) { pause(); } else { play(); } });
    speedSelect.addEventListener("change", function () { player.speed = Number(speedSelect.value); });
    slider.addEventListener("input", function () { show(Number(slider.value)); });
})();
