/* A declaration on the officer's screen: parties, itinerary and goods; control results (each error
 * code in the page's language, at its field); permits drawn; the risk channel with the rules that
 * fired and why; release with seals chosen from the inventory, the corridor previewed on the map and
 * the deadline; then arrival and closing of its transit. Only the steps the role may take are offered. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var id = SW.config.declarationId;
    var base = "/api/declarations/" + id;
    var failure = document.getElementById("sw-failure");
    var previewMap = null;

    function facts(box, pairs) {
        box.textContent = "";
        pairs.forEach(function (p) {
            if (p[1] === null || p[1] === undefined || p[1] === "") { return; }
            box.appendChild(el("dt", { text: p[0] }));
            box.appendChild(el("dd", {}, [p[1]]));
        });
    }

    function notice(text) {
        var box = document.getElementById("d-notice");
        box.hidden = !text;
        box.textContent = text || "";
    }

    function fail(err) {
        var detail = err && err.detail;
        var text = err && err.message ? err.message : "";
        if (detail && typeof detail === "object" && detail.message) { text += " " + detail.message; }
        else if (typeof detail === "string") { text += " " + detail; }
        Screens.showError(failure, { message: text });
    }

    function kg(v) { return _("{n} kg", { n: SW.fmt.number(Number(v)) }); }

    // One control finding: the field it concerns and what is wrong, in the page's language.
    function finding(e, extra) {
        return el("li", { className: "error", "data-code": e.code, "data-path": e.path }, [
            el("code", { text: e.path || "/" }), " ", SW.label("error_code", e.code), extra ? " " + extra : ""
        ]);
    }

    function step(name, text, run, needsReason) {
        if (!SW.may(name)) { return null; }
        var button = el("button", { type: "button", className: "sw-button", "data-action": name, text: text });
        button.addEventListener("click", function () {
            var reasonBox = document.getElementById("d-reason-box"), reason = document.getElementById("d-reason");
            if (needsReason && !reason.value.trim()) {
                reasonBox.hidden = false;
                reason.focus();
                notice(_("Give a reason, then press the button again."));
                return;
            }
            button.disabled = true;
            failure.hidden = true;
            run(needsReason ? reason.value.trim() : undefined).then(function () { reason.value = ""; reasonBox.hidden = true; load(); },
                function (err) { button.disabled = false; fail(err); });
        });
        return button;
    }

    function post(path, body) { return SW.api(path, { method: "POST", body: body === undefined ? {} : body }); }

    function showRisk(d) {
        var box = document.getElementById("d-risk-body");
        box.textContent = "";
        var r = d.risk;
        if (!r) {
            box.appendChild(el("p", { className: "sw-muted", text: _("Not assessed yet.") }));
            if (d.status === "accepted") {
                var b = step("risk", _("Assess the risk"), function () { return post(base + "/risk"); });
                if (b) { box.appendChild(b); }
            }
            return;
        }
        var head = el("p", {}, [Screens.badge("channel", r.channel), " ", _("score {score}", { score: SW.fmt.number(r.score) }),
            r.random_selected ? " · " + _("selected at random from the {channel} channel", { channel: SW.label("channel", r.score_channel) }) : "",
            " · " + (r.monitored ? _("monitored by e-seal") : _("not monitored")),
            r.controls.length ? " · " + _("controls: {list}", { list: r.controls.join(", ") }) : ""]);
        box.appendChild(head);
        if (!r.fired.length) { box.appendChild(el("p", { className: "sw-muted", text: _("No rule fired.") })); return; }
        var table = el("table", { className: "sw-table", id: "d-rules" }, [
            el("thead", {}, [el("tr", {}, [el("th", { text: _("Rule") }), el("th", { className: "num", text: _("Weight") }),
                el("th", { text: _("Why it fired") })])])
        ]);
        var tbody = el("tbody");
        r.fired.forEach(function (f) {
            tbody.appendChild(el("tr", { "data-rule": f.code }, [el("td", { text: f.code }),
                el("td", { className: "num", text: SW.fmt.number(f.weight) }), el("td", { text: f.explanation })]));
        });
        table.appendChild(tbody);
        box.appendChild(el("div", { className: "sw-scroll" }, [table]));
    }

    function showRelease(d) {
        var section = document.getElementById("d-release");
        section.hidden = !(d.status === "accepted" && SW.may("release"));
        if (section.hidden) { return; }
        // The risk channel decides whether the transit is monitored; the officer may monitor any.
        var monitor = document.getElementById("d-monitor"), byRisk = !!(d.risk && d.risk.monitored);
        monitor.checked = byRisk || !d.risk;
        monitor.disabled = byRisk;
        monitor.onchange = function () { document.getElementById("d-seal-choice").hidden = !monitor.checked; };
        monitor.onchange();
        SW.api(base + "/release-preview").then(function (p) {
            facts(document.getElementById("d-preview"), [
                [_("Route"), (p.route_code || _("ad hoc"))],
                [_("Length"), _("{n} km", { n: SW.fmt.number(p.length_km) })],
                [_("Corridor"), _("±{n} m", { n: SW.fmt.integer(p.corridor_width_m) })],
                [_("Time limit"), _("{n} h", { n: SW.fmt.number(p.time_limit_h) })],
                [_("Deadline if released now"), SW.fmt.time(p.deadline_if_released_now)]
            ]);
            document.getElementById("d-seal-rule").textContent = _("Choose {n} seal(s); battery at least {pct}.", {
                n: p.seal_count, pct: SW.fmt.percent(p.min_battery_pct) });
            var list = document.getElementById("d-seals");
            list.textContent = "";
            if (!p.available_seals.length) {
                list.appendChild(el("li", { className: "sw-error", text: _("No seal is free in the inventory.") }));
            }
            p.available_seals.forEach(function (s) {
                var box = el("input", { type: "checkbox", name: "seal", value: s.seal_id });
                box.checked = p.suggested_seals.indexOf(s.seal_id) >= 0;
                list.appendChild(el("li", {}, [el("label", {}, [box, s.seal_id + " · " + SW.fmt.percent(s.battery_pct)])]));
            });
            var button = document.getElementById("d-release-button");
            button.onclick = function () {
                var chosen = Array.prototype.map.call(list.querySelectorAll("input:checked"), function (i) { return i.value; });
                if (!monitor.checked) {
                    chosen = null;
                } else if (chosen.length !== p.seal_count) {
                    notice(_("Choose {n} seal(s); battery at least {pct}.", { n: p.seal_count, pct: SW.fmt.percent(p.min_battery_pct) }));
                    return;
                }
                button.disabled = true;
                post(base + "/release", { seal_ids: chosen, monitor_all: monitor.checked && !byRisk }).then(function (t) {
                    notice(_("Released: transit {id}.", { id: t.transit_id }));
                    button.disabled = false;
                    load();
                }, function (err) { button.disabled = false; fail(err); });
            };
            if (!previewMap) { previewMap = SWMap.create("d-map"); }
            previewMap.eachLayer(function (l) { if (!(l instanceof L.TileLayer)) { previewMap.removeLayer(l); } });
            SWMap.fit(previewMap, [SWMap.corridor(previewMap, p.corridor, p.corridor_width_m), SWMap.route(previewMap, p.route_line)]);
        }, fail);
    }

    function showTransit(d) {
        var section = document.getElementById("d-transit");
        section.hidden = !d.transit_id;
        if (!d.transit_id) { return; }
        SW.api("/api/transits/" + encodeURIComponent(d.transit_id)).then(function (t) {
            facts(document.getElementById("d-transit-facts"), [
                [_("Transit"), t.transit_id], [_("State"), Screens.badge("transit_status", t.status)],
                [_("Seals"), t.seal_ids.join(", ") || _("not monitored")], [_("Released"), SW.fmt.time(t.released_at)],
                [_("Deadline"), SW.fmt.time(t.deadline)], [_("Arrived"), t.arrived_at ? SW.fmt.time(t.arrived_at) : null],
                [_("Closed"), t.closed_at ? SW.fmt.time(t.closed_at) : null]
            ]);
            var actions = document.getElementById("d-transit-actions");
            actions.textContent = "";
            var path = "/api/transits/" + encodeURIComponent(t.transit_id);
            [
                t.status === "active" ? step("arrive", _("Record the arrival"), function () { return post(path + "/arrive"); }) : null,
                t.status === "arrived" ? step("close", _("Close the transit"), function () { return post(path + "/close"); }) : null,
                SW.may("console") ? el("a", { className: "sw-button", href: "/", id: "d-console", text: _("Follow it on the console") }) : null,
                SW.may("record") ? el("a", { className: "sw-button", href: "/auditor/transits/" + encodeURIComponent(t.transit_id),
                    text: _("Transit record") }) : null
            ].forEach(function (b) { if (b) { actions.appendChild(b); } });
        }, fail);
    }

    function load() {
        Promise.all([SW.api(base), SW.api(base + "/control"), SW.api(base + "/permits")]).then(function (r) {
            var d = r[0], control = r[1], permits = r[2];
            document.getElementById("d-lrn").textContent = (d.lrn || "") + (d.mrn ? " · " + d.mrn : "");
            var status = document.getElementById("d-status");
            status.textContent = "";
            status.appendChild(Screens.badge("declaration_status", d.status));
            facts(document.getElementById("d-parties"), [
                [_("Declarant"), d.declarant.name + " (" + d.declarant.tin + ")"],
                [_("Carrier"), d.carrier.name + " (" + d.carrier.tin + ")"],
                [_("Plate"), d.vehicle_plate], [_("Trailers"), d.trailers.join(", ")], [_("Containers"), d.containers.join(", ")],
                [_("Origin"), d.origin_country], [_("Lodged"), SW.fmt.time(d.submitted_at)]
            ]);
            facts(document.getElementById("d-itinerary"), [
                [_("Departure"), d.office_of_departure], [_("Offices of transit"), d.offices_of_transit.join(", ")],
                [_("Destination"), d.office_of_destination], [_("Route"), d.route_code || _("ad hoc")],
                [_("Places"), d.itinerary_places.join(" → ")], [_("Seals"), String(d.seal_count)]
            ]);
            var items = document.querySelector("#d-items tbody");
            items.textContent = "";
            d.items.forEach(function (i) {
                items.appendChild(el("tr", {}, [el("td", { text: i.item_no }), el("td", { text: i.hs_code }), el("td", { text: i.description }),
                    el("td", { className: "num", text: kg(i.gross_mass_kg) }), el("td", { className: "num", text: kg(i.net_mass_kg) }),
                    el("td", { className: "num", text: SW.fmt.number(Number(i.value)) + " " + i.currency }),
                    el("td", { className: "num", text: i.packages })]));
            });
            var list = document.getElementById("d-control-list");
            list.textContent = "";
            control.errors.forEach(function (e) { list.appendChild(finding(e)); });
            control.hold_reasons.forEach(function (e) { list.appendChild(finding(e, e.permit_type ? "(" + e.permit_type + ")" : "")); });
            if (!control.errors.length) {
                list.appendChild(el("li", { className: "ok", text: _("Format and logical control passed.") }));
            }
            if (!control.hold_reasons.length && ["submitted", "held"].indexOf(d.status) < 0) {
                list.appendChild(el("li", { className: "ok", text: _("Permits: nothing missing.") }));
            }
            var pbody = document.querySelector("#d-permits tbody");
            pbody.textContent = "";
            permits.forEach(function (u) {
                pbody.appendChild(el("tr", {}, [el("td", { text: u.item_no }), el("td", { text: u.permit_no + " · " + u.permit_type }),
                    el("td", { text: u.agency_code }), el("td", { className: "num", text: kg(u.quantity_kg) + (u.returned_at ? " (" + _("returned") + ")" : "") }),
                    el("td", { className: "num", text: kg(Number(u.permit_quantity_kg) - Number(u.permit_used_kg)) }),
                    el("td", { text: u.valid_to })]));
            });
            if (!permits.length) { pbody.appendChild(el("tr", {}, [el("td", { colspan: 6, className: "sw-muted", text: _("None.") })])); }
            showRisk(d);
            showRelease(d);
            showTransit(d);
            var actions = document.getElementById("d-actions");
            actions.textContent = "";
            [
                d.status === "held" ? step("recheck", _("Check the permits again"), function () { return post(base + "/recheck"); }) : null,
                ["submitted", "held"].indexOf(d.status) >= 0 ?
                    step("reject", _("Reject"), function (reason) { return post(base + "/reject", { reason: reason }); }, true) : null,
                ["submitted", "held", "accepted"].indexOf(d.status) >= 0 ?
                    step("cancel", _("Cancel"), function (reason) { return post(base + "/cancel", { reason: reason }); }, true) : null
            ].forEach(function (b) { if (b) { actions.appendChild(b); } });
            var history = document.getElementById("d-history");
            history.textContent = "";
            d.history.forEach(function (h) {
                history.appendChild(el("li", {}, [el("time", { datetime: h.at, text: SW.fmt.time(h.at) }),
                    SW.label("declaration_status", h.to_status) + " · " + h.actor + (h.reason ? " — " + h.reason : "")]));
            });
        }, fail);
    }

    load();
})();
