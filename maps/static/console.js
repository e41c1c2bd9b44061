/* The operations console: wires the units store, the map, the list and the alert panel, and shows
 * the transit card of the selected unit and the workflow of an alert (acknowledge, dispatch to a
 * suggested or chosen mobile group, resolve with outcome and comment; its steps and evidence).
 * Actions the role may not take are never offered (SW.config.permissions, refined by /api/me). */
(function (global) {
    "use strict";

    var _ = SW._, esc = SW.esc, cfg = SW.config;
    var may = { acknowledge: false, dispatch: false, resolve: false };
    var card = { kind: null, id: null, seal: null };
    var el = {};
    var ready = false;

    Object.keys(may).forEach(function (k) { may[k] = SW.may(k); });

    function dl(pairs) {
        return "<dl class=\"cx-dl\">" + pairs.filter(Boolean).map(function (p) {
            return "<dt>" + esc(p[0]) + "</dt><dd" + (p[2] ? " class=\"" + esc(p[2]) + "\"" : "") + ">" + esc(p[1]) + "</dd>";
        }).join("") + "</dl>";
    }

    function showCard(html) {
        el.body.innerHTML = html;
        el.card.hidden = false;
        document.getElementById("cx").classList.add("card-open");
    }

    function closeCard() {
        el.card.hidden = true;
        card = { kind: null, id: null, seal: null };
        document.getElementById("cx").classList.remove("card-open");
        SWConsoleMap.select(null);
        SWList.setSelected(null);
    }

    function cardError(err) {
        showCard('<p class="sw-error">' + esc(err.message) + "</p>");
    }

    // ---- transit card ----

    function fallbackCard(sealId) {
        var u = SWUnits.get(sealId) || { id: sealId };
        var start = new Date(SWUnits.now() - 2 * 3600 * 1000).toISOString();
        return Promise.all([
            SW.api("/api/alerts?status=unresolved&seal_id=" + encodeURIComponent(sealId)),
            SW.api("/api/seals/" + encodeURIComponent(sealId) + "/track?start=" + encodeURIComponent(start))
                .catch(function () { return null; })
        ]).then(function (res) {
            var track = res[1] && res[1].features && res[1].features[0] ? res[1].features[0].geometry : null;
            return {
                seal_id: u.id, transit_id: u.transit, plate: u.plate, carrier: u.carrier, route_code: u.route,
                battery: u.battery, t: u.t ? new Date(u.t).toISOString() : null, state: u.state,
                open_alerts: res[0], track: track,
                links: u.transit ? {
                    history: "/auditor/transits/" + encodeURIComponent(u.transit),
                    playback: "/transits/" + encodeURIComponent(u.transit) + "/playback"
                } : {}
            };
        });
    }

    function unitCard(c) {
        var u = SWUnits.get(c.seal_id) || {};
        var state = u.state || c.state;
        var t = c.t || (u.t ? new Date(u.t).toISOString() : null);
        var age = c.age_s !== undefined && c.age_s !== null ? c.age_s : (t ? (SWUnits.now() - Date.parse(t)) / 1000 : null);
        var links = c.links || {};
        var alerts = (c.open_alerts || []).slice().sort(function (x, y) {
            return SWUnits.SEVERITY[x.severity] - SWUnits.SEVERITY[y.severity];
        });
        var html = '<div class="cx-card-unit" data-seal-id="' + esc(c.seal_id) + '">' +
            '<h3><span class="cx-card-plate">' + esc(c.plate || c.seal_id) + '</span> <span class="cx-state-chip st-' +
            esc(state) + '">' + esc(SW.label("state", state)) + "</span></h3>" +
            dl([
                [_("Seal"), c.seal_id],
                [_("Transit"), c.transit_id || "–"],
                [_("Declaration"), c.mrn || c.declaration_id || "–"],
                [_("Carrier"), c.carrier || "–", "cx-card-carrier"],
                [_("Plate"), c.plate || "–"],
                [_("Route"), (c.route_code || "–") + (c.route_name ? " · " + c.route_name : "")],
                [_("Origin"), c.origin || "–"],
                [_("Destination"), c.destination || "–"],
                [_("Deadline"), c.deadline ? SW.fmt.time(c.deadline) : "–"],
                [_("Battery"), SW.fmt.percent(c.battery !== undefined ? c.battery : u.battery)],
                [_("Last fix"), age === null ? "–" : _("{age} ago", { age: SW.fmt.age(age) }) + " · " + SW.fmt.time(t), "cx-card-age"],
                [_("Speed"), SW.fmt.speed(c.speed_kmh)]
            ]) +
            "<h4>" + esc(_("Open alerts")) + " (" + alerts.length + ")</h4>" +
            (alerts.length ? '<ul class="cx-card-alerts">' + alerts.map(function (a) {
                return '<li><button type="button" class="cx-link sev-' + esc(a.severity) + '" data-open-alert="' + esc(a.id) + '">' +
                    esc(SW.label("alert_type", a.type)) + " · " + esc(SW.label("alert_status", a.status)) + "</button></li>";
            }).join("") + "</ul>" : '<p class="sw-muted">' + esc(_("No open alerts.")) + "</p>") +
            '<p class="cx-card-links">' +
            (links.history && SW.may("history") ? '<a href="' + esc(links.history) + '" class="cx-history">' + esc(_("History")) + "</a> " : "") +
            (links.playback && SW.may("playback") ? '<a href="' + esc(links.playback) + '" class="cx-playback">' + esc(_("Playback")) + "</a>" : "") +
            "</p></div>";
        return html;
    }

    function openUnit(sealId) {
        card = { kind: "unit", id: sealId, seal: sealId };
        SWList.setSelected(sealId);
        var u = SWUnits.get(sealId);
        showCard('<p class="sw-muted">' + esc(_("Loading {what}", { what: (u && u.plate) || sealId })) + "</p>");
        SWConsoleMap.select(sealId, null);
        var req = SW.api("/api/console/units/" + encodeURIComponent(sealId)).catch(function (err) {
            if (err.status === 404 && !SWUnits.store.legacy) { throw err; }
            return fallbackCard(sealId);
        });
        req.then(function (c) {
            if (card.kind !== "unit" || card.id !== sealId) { return; }
            card.readAt = Date.now();
            showCard(unitCard(c));
            SWConsoleMap.select(sealId, c.track || null);
        }).catch(cardError);
    }

    function refreshUnit(sealId) {
        card.readAt = Date.now();
        SW.api("/api/console/units/" + encodeURIComponent(sealId)).then(function (c) {
            if (card.kind !== "unit" || card.id !== sealId) { return; }
            showCard(unitCard(c));
            SWConsoleMap.track(c.track || null);
        }).catch(function () {});
    }

    // ---- an alert: steps, evidence, actions ----

    function canAck(a) { return a.status === "open" || (a.status === "dispatched" && !a.acknowledged_at); }
    function canDispatch(a) { return a.status === "open" || a.status === "acknowledged"; }

    function stepLine(h) {
        var who = h.actor ? esc(h.actor) : "";
        var note = h.detail && (h.detail.comment || h.detail.outcome || h.detail.group_id);
        var extra = [];
        if (h.detail && h.detail.group_id) { extra.push(esc(h.detail.group_id)); }
        if (h.detail && h.detail.outcome) { extra.push(esc(SW.label("outcome", h.detail.outcome))); }
        if (h.detail && h.detail.comment) { extra.push("«" + esc(h.detail.comment) + "»"); }
        return '<li class="cx-step" data-step="' + esc(h.kind) + '"><b>' + esc(SW.label("step", h.kind)) + "</b> · " +
            '<span class="cx-step-actor">' + who + "</span> · " + esc(SW.fmt.time(h.at)) +
            (note ? " · " + extra.join(" · ") : "") + "</li>";
    }

    // An evidence value in words and metric units, by what its key says it is.
    function evidenceValue(k, v) {
        if (v === null || v === undefined) { return "–"; }
        if (typeof v === "boolean") { return v ? _("yes") : _("no"); }
        if (k === "observation") { return SW.label("observation", v); }
        if (k === "from_state" || k === "to_state") { return SW.label("seal_state", v); }
        if (k === "level" || k === "previous_level") { return SW.label("severity", v); }
        if (typeof v === "number" && /_s$/.test(k)) { return SW.fmt.age(v); }
        if (typeof v === "number" && /_m$/.test(k)) { return SW.fmt.km(v); }
        if (typeof v === "number" && /_pct$/.test(k)) { return SW.fmt.percent(v); }
        if (typeof v === "number" && /_kmh$/.test(k)) { return SW.fmt.speed(v); }
        if (/(_t|_at)$/.test(k) || k === "deadline") { return SW.fmt.time(v); }
        return typeof v === "object" ? JSON.stringify(v) : String(v);
    }

    function evidence(ev) {
        var keys = Object.keys(ev || {}).filter(function (k) { return k !== "prev_lat" && k !== "prev_lon"; });
        if (!keys.length) { return ""; }
        return "<h4>" + esc(_("Evidence")) + '</h4><div class="cx-evidence">' + dl(keys.map(function (k) {
            return [SW.label("evidence", k), evidenceValue(k, ev[k])];
        })) + "</div>";
    }

    function actionsHtml(a) {
        var parts = [];
        if (may.acknowledge && canAck(a)) {
            parts.push('<button type="button" class="cx-act" data-act="acknowledge">' + esc(_("Acknowledge")) + "</button>");
        }
        if (may.dispatch && canDispatch(a)) {
            parts.push('<fieldset class="cx-dispatch"><legend>' + esc(_("Dispatch a mobile group")) + "</legend>" +
                '<div id="cx-suggest" class="sw-muted">' + esc(_("Finding the nearest groups")) + "</div>" +
                '<button type="button" class="cx-act" data-act="dispatch" disabled>' + esc(_("Dispatch")) + "</button></fieldset>");
        }
        if (may.resolve && a.status !== "resolved") {
            parts.push('<fieldset class="cx-resolve"><legend>' + esc(_("Resolve")) + "</legend>" +
                '<label>' + esc(_("Outcome")) + ' <select id="cx-outcome"><option value="">–</option>' +
                cfg.outcomes.map(function (o) {
                    return '<option value="' + esc(o) + '">' + esc(SW.label("outcome", o)) + "</option>";
                }).join("") + "</select></label>" +
                '<label>' + esc(_("Comment")) + ' <textarea id="cx-comment" rows="2" maxlength="2000"></textarea></label>' +
                '<button type="button" class="cx-act" data-act="resolve">' + esc(_("Resolve")) + "</button></fieldset>");
        }
        return parts.length ? '<div class="cx-actions">' + parts.join("") + "</div>" : "";
    }

    function alertCard(a) {
        var u = SWUnits.get(a.seal_id) || {};
        return '<div class="cx-card-alert sev-' + esc(a.severity) + '" data-alert-id="' + esc(a.id) + '" data-status="' + esc(a.status) + '">' +
            '<p><button type="button" class="cx-link" data-open-unit="' + esc(a.seal_id) + '">← ' + esc(u.plate || a.seal_id) + "</button></p>" +
            "<h3>" + esc(SW.label("alert_type", a.type)) + ' <span class="cx-sev">' + esc(SW.label("severity", a.severity)) + "</span></h3>" +
            dl([
                [_("Status"), SW.label("alert_status", a.status), "cx-alert-state"],
                [_("Seal"), a.seal_id],
                [_("Transit"), a.transit_id],
                [_("Plate"), u.plate || "–"],
                [_("Raised"), SW.fmt.time(a.raised_at)],
                a.late ? [_("found late"), SW.fmt.time(a.detected_at)] : null,
                [_("Last seen"), SW.fmt.time(a.last_t) + (a.count > 1 ? " (×" + SW.fmt.integer(a.count) + ")" : "")],
                [_("Mobile group"), a.group_id || "–"]
            ]) +
            '<div class="cx-error sw-error" id="cx-act-error" role="alert"></div>' +
            actionsHtml(a) +
            "<h4>" + esc(_("Steps")) + '</h4><ol class="cx-steps">' + (a.history || []).map(stepLine).join("") + "</ol>" +
            evidence(a.evidence) + "</div>";
    }

    function suggestions(a) {
        var box = document.getElementById("cx-suggest");
        if (!box) { return; }
        var button = el.body.querySelector('[data-act="dispatch"]');
        Promise.all([
            SW.api("/api/groups/suggest?alert_id=" + encodeURIComponent(a.id)).catch(function () { return []; }),
            SW.api("/api/groups").catch(function () { return []; })
        ]).then(function (res) {
            var near = res[0], all = res[1];
            var html = near.length ? '<ul class="cx-suggestions">' + near.slice(0, 5).map(function (g, i) {
                return '<li><label><input type="radio" name="cx-group" value="' + esc(g.group_id) + '"' + (i === 0 ? " checked" : "") +
                    "> " + esc(g.name) + ' <span class="cx-distance">' + esc(SW.fmt.km(g.distance_m)) + "</span></label></li>";
            }).join("") + "</ul>" : '<p class="sw-muted">' + esc(_("No group is available nearby.")) + "</p>";
            html += '<label class="cx-manual">' + esc(_("Or choose a group")) + ' <select id="cx-group-manual"><option value="">–</option>' +
                all.map(function (g) {
                    return '<option value="' + esc(g.group_id) + '">' + esc(g.name) + "</option>";
                }).join("") + "</select></label>";
            box.className = "";
            box.innerHTML = html;
            if (button) { button.disabled = !near.length && !all.length; }
        });
    }

    function chosenGroup() {
        var manual = document.getElementById("cx-group-manual");
        if (manual && manual.value) { return manual.value; }
        var radio = el.body.querySelector('input[name="cx-group"]:checked');
        return radio ? radio.value : null;
    }

    function renderAlert(a) {
        if (card.kind !== "alert" || card.id !== a.id) { return; }
        var shown = el.body.querySelector(".cx-card-alert");
        var sig = a.status + "|" + (a.history || []).length;
        // A repeated change (the stream echoing our own step) must not wipe what the operator is typing.
        if (shown && shown.dataset.sig === sig) { return; }
        var keep = {};
        ["cx-outcome", "cx-comment", "cx-group-manual"].forEach(function (id) {
            var n = document.getElementById(id);
            if (n && n.value) { keep[id] = n.value; }
        });
        showCard(alertCard(a));
        el.body.querySelector(".cx-card-alert").dataset.sig = sig;
        Object.keys(keep).forEach(function (id) {
            var n = document.getElementById(id);
            if (n) { n.value = keep[id]; }
        });
        if (may.dispatch && canDispatch(a)) { suggestions(a); }
    }

    function openAlert(id, sealId) {
        card = { kind: "alert", id: id, seal: sealId || null };
        showCard('<p class="sw-muted">' + esc(_("Loading {what}", { what: "#" + id })) + "</p>");
        if (sealId) { SWList.setSelected(sealId); SWConsoleMap.select(sealId, null); }
        SW.api("/api/alerts/" + encodeURIComponent(id)).then(function (a) {
            card.seal = a.seal_id;
            SWList.setSelected(a.seal_id);
            SWConsoleMap.select(a.seal_id, null);
            renderAlert(a);
        }).catch(cardError);
    }

    function act(kind, button) {
        var id = card.id, body = {};
        if (kind === "dispatch") {
            var g = chosenGroup();
            if (g) { body.group_id = g; }
        }
        if (kind === "resolve") {
            var outcome = document.getElementById("cx-outcome").value;
            if (!outcome) {
                document.getElementById("cx-act-error").textContent = _("Choose an outcome.");
                return;
            }
            body = { outcome: outcome, comment: document.getElementById("cx-comment").value };
        }
        button.disabled = true;
        SW.api("/api/alerts/" + encodeURIComponent(id) + "/" + kind, { method: "POST", body: body }).then(function (a) {
            renderAlert(a);
            SWAlerts.reload();
            if (kind !== "acknowledge") { refreshGroups(); }  // a dispatched group is busy, a resolved one free
        }).catch(function (err) {
            button.disabled = false;
            var box = document.getElementById("cx-act-error");
            if (box) { box.textContent = err.message; }
            if (err.status === 409) { openAlert(id); }
        });
    }

    // ---- wiring ----

    function refreshCard(alert) {
        if (card.kind === "alert" && alert && alert.id === card.id) {
            SW.api("/api/alerts/" + encodeURIComponent(card.id)).then(renderAlert).catch(function () {});
        }
    }

    function markReady(drawn) {
        if (ready || !SWUnits.store.loaded) { return; }
        ready = true;
        var area = document.getElementById("sw-map-area");
        area.dataset.ready = "1";
        area.dataset.units = String(drawn.units);
        if (global.performance && global.performance.mark) { global.performance.mark("sw-console-drawn"); }
    }

    function updateLegend() {
        var counts = SWUnits.store.counts;
        document.querySelectorAll("[data-state-count]").forEach(function (n) {
            n.textContent = SW.fmt.integer(counts[n.dataset.stateCount] || 0);
        });
        document.getElementById("cx-units-count").textContent = SW.fmt.integer(SWUnits.store.units.length);
        var stamp = document.getElementById("cx-updated");
        stamp.textContent = _("Updated {time}", { time: SW.fmt.clock(SWUnits.now() / 1000) });
        stamp.classList.remove("error");
    }

    function tabs() {
        document.querySelectorAll(".cx-tab").forEach(function (t) {
            t.addEventListener("click", function () {
                document.querySelectorAll(".cx-tab").forEach(function (o) {
                    var on = o === t;
                    o.classList.toggle("active", on);
                    o.setAttribute("aria-selected", on ? "true" : "false");
                    document.getElementById("cx-pane-" + o.dataset.tab).hidden = !on;
                });
            });
        });
    }

    function loadMe() {
        // The role's actions as the server states them (when it offers /api/me): never more than the page's own.
        SW.api("/api/me").then(function (me) {
            if (me && Array.isArray(me.actions)) {
                Object.keys(may).forEach(function (k) { may[k] = may[k] && me.actions.indexOf(k) >= 0; });
            }
        }).catch(function () {});
    }

    function refreshGroups() {
        if (SW.may("groups")) { SW.api("/api/groups").then(SWConsoleMap.setGroups).catch(function () {}); }
    }

    function pollGroups() {
        if (!SW.may("groups")) { return; }
        SW.api("/api/groups").then(SWConsoleMap.setGroups).catch(function () {}).then(function () {
            global.setTimeout(pollGroups, cfg.groupsPollMs || 15000);
        });
    }

    function start() {
        el.card = document.getElementById("cx-card");
        el.body = document.getElementById("cx-card-body");
        document.querySelectorAll(".cx-swatch[data-color]").forEach(function (s) { s.style.background = s.dataset.color; });
        document.getElementById("cx-card-close").addEventListener("click", closeCard);
        document.addEventListener("keydown", function (e) { if (e.key === "Escape" && !el.card.hidden) { closeCard(); } });
        el.body.addEventListener("click", function (e) {
            var t = e.target.closest("[data-open-alert],[data-open-unit],[data-act]");
            if (!t) { return; }
            if (t.dataset.openAlert) { openAlert(Number(t.dataset.openAlert)); }
            else if (t.dataset.openUnit) { openUnit(t.dataset.openUnit); }
            else if (t.dataset.act) { act(t.dataset.act, t); }
        });
        tabs();
        SWConsoleMap.init("sw-map-area", openUnit);
        SWConsoleMap.onDrawn(markReady);
        SWList.init(openUnit);
        SWList.onRows(SWConsoleMap.setUnits);
        SWUnits.onChange(function (change) {
            SWList.update(change);
            updateLegend();
            // The alert panel names units by plate: re-render it once the units are known.
            if (change.full) { SWAlerts.render(); }
            // The open card follows its unit: a new fix or state re-reads it (at most every 10 s).
            if (card.kind === "unit" && change.moved.some(function (u) { return u.id === card.id; }) &&
                    Date.now() - (card.readAt || 0) > 10000) {
                refreshUnit(card.id);
            }
        });
        SWUnits.onError(function (err) {
            var stamp = document.getElementById("cx-updated");
            stamp.textContent = _("Updates interrupted: {error}", { error: err.message });
            stamp.classList.add("error");
        });
        SWAlerts.init(openAlert);
        SWAlerts.onAlert(refreshCard);
        loadMe();
        SWUnits.start();
        pollGroups();
    }

    global.SWConsole = { openUnit: openUnit, openAlert: openAlert, may: may };
    start();
})(window);
