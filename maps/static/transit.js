/* A transit's record for the auditor: declaration and release, TRS times, the track on the map with
 * alerts and observations, one timeline of every step, and downloads. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var id = SW.config.transitId;
    var failure = document.getElementById("sw-failure");

    function facts(box, pairs) {
        box.textContent = "";
        pairs.forEach(function (p) {
            if (p[1] === null || p[1] === undefined || p[1] === "") { return; }
            box.appendChild(el("dt", { text: p[0] }));
            box.appendChild(el("dd", {}, [typeof p[1] === "string" ? p[1] : p[1]]));
        });
    }

    function hours(s) { return s === null || s === undefined ? null : _("{n} h", { n: SW.fmt.number(s / 3600) }); }
    function minutes(s) { return s === null || s === undefined ? null : _("{n} min", { n: SW.fmt.integer(s / 60) }); }

    function timeline(detail) {
        var items = [];
        detail.declaration.status_history.forEach(function (h) {
            items.push({ t: h.at, text: _("Declaration {status}", { status: SW.label("declaration_status", h.to_status) }) +
                " · " + h.actor + (h.reason ? " — " + h.reason : ""), kind: "step" });
        });
        (detail.alerts || []).forEach(function (entry) {
            var a = entry.alert, type = SW.label("alert_type", a.type);
            items.push({ t: a.first_t, text: type + ": " + SW.label("step", "raised") + " · " + SW.label("severity", a.severity),
                kind: "alert", late: a.late });
            entry.lifecycle.forEach(function (e) {
                if (e.kind === "raised") { return; }
                var text = type + ": " + SW.label("step", e.kind) + " · " + e.actor;
                if (e.kind === "resolved" && e.detail && e.detail.outcome) { text += " — " + SW.label("outcome", e.detail.outcome); }
                items.push({ t: e.at, text: text, kind: "alert" });
            });
            if (!entry.lifecycle.some(function (e) { return e.kind === "resolved"; }) && a.outcome) {
                items.push({ t: a.resolved_at, text: type + ": " + SW.label("step", "resolved") + " · " + (a.resolved_by || "") +
                    " — " + SW.label("outcome", a.outcome), kind: "alert" });
            }
        });
        detail.observations.forEach(function (o) {
            items.push({ t: o.t, text: SW.label("observation", o.kind) + (o.zone_code ? " · " + o.zone_code : ""), kind: "obs" });
        });
        items.sort(function (a, b) { return Date.parse(a.t) - Date.parse(b.t); });
        var list = document.getElementById("tr-timeline");
        list.textContent = "";
        items.forEach(function (i) {
            var li = el("li", { className: i.kind, "data-kind": i.kind }, [el("time", { datetime: i.t, text: SW.fmt.time(i.t) }), i.text]);
            if (i.late) { li.appendChild(el("span", { className: "sw-badge late", text: _("found late") })); }
            list.appendChild(li);
        });
    }

    function map(detail, track) {
        var m = SWMap.create("tr-map");
        var layers = [SWMap.corridor(m, detail.corridor, detail.corridor_width_m), SWMap.route(m, detail.route_line)];
        track.features.forEach(function (f) {
            if (f.geometry) {
                layers.push(L.geoJSON(f.geometry, { style: { color: "#0077b6", weight: 3 } })
                    .bindTooltip(SW.esc(_("Seal {seal}: {n} fixes", { seal: f.properties.seal_id, n: f.properties.points }))).addTo(m));
            }
        });
        detail.observations.forEach(function (o) {
            L.circleMarker([o.lat, o.lon], { radius: 4, color: "#1d3557", weight: 1, fillOpacity: 0.8 })
                .bindTooltip(SW.esc(SW.label("observation", o.kind) + " · " + SW.fmt.time(o.t))).addTo(m);
        });
        (detail.alerts || []).forEach(function (entry) {
            if (entry.alert.lat !== null) { SWMap.alertMarker(entry.alert).addTo(m); }
        });
        SWMap.fit(m, layers.slice(2).length ? layers.slice(2) : layers);
    }

    Promise.all([
        SW.api("/api/history/transits/" + encodeURIComponent(id)),
        SW.api("/api/history/transits/" + encodeURIComponent(id) + "/track"),
        SW.api("/api/trs/transits/" + encodeURIComponent(id))
    ]).then(function (r) {
        var detail = r[0], track = r[1], trs = r[2], d = detail.declaration, rel = detail.release;
        document.getElementById("tr-status").appendChild(Screens.badge("transit_status", detail.status));
        facts(document.getElementById("tr-facts"), [
            [_("Declaration"), (d.lrn || "") + " · " + d.declarant_name + " (" + d.declarant_tin + ")"],
            [_("Carrier"), d.carrier_name + " (" + d.carrier_tin + ")"],
            [_("Plate"), d.vehicle_plate],
            [_("Route"), (detail.route_code || _("ad hoc")) + " · " + rel.office_departure + " → " + rel.office_destination],
            [_("Channel"), Screens.badge("channel", rel.channel)],
            [_("Released"), SW.fmt.time(rel.released_at) + (rel.actor ? " · " + rel.actor : "")],
            [_("Deadline"), SW.fmt.time(rel.deadline)],
            [_("Arrived"), detail.arrival.arrived_at ? SW.fmt.time(detail.arrival.arrived_at) : null],
            [_("Closed"), detail.closure.closed_at ? SW.fmt.time(detail.closure.closed_at) : null],
            [_("Seals"), detail.seals.map(function (s) { return s.seal_id + " (" + SW.fmt.integer(s.fixes) + ")"; }).join(", ")]
        ]);
        facts(document.getElementById("tr-trs"), [
            [_("Time limit"), hours(trs.time_limit_s)],
            [_("Transit time"), trs.transit_time_s === null ? _("not arrived") : hours(trs.transit_time_s)],
            [_("Within the limit"), trs.within_limit === null ? null : (trs.within_limit ? _("yes") : _("no"))],
            [_("Border control"), minutes(trs.border_control_s)]
        ].concat(trs.zones.map(function (z) { return [_("In zone {zone}", { zone: z.zone_code }), minutes(z.seconds)]; })));
        timeline(detail);
        map(detail, track);
        if (!SW.may("playback")) { document.getElementById("tr-playback").remove(); }
        if (!SW.may("exports")) { document.getElementById("tr-downloads").remove(); }
    }, function (err) { Screens.showError(failure, err); });
})();
