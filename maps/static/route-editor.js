/* One route on the map: its current line and corridor over the offline basemap, its versions (who,
 * when, from what, why), an older version on request. Roles that may change the geometry edit the
 * line's vertices and save it as a new version (refused when someone saved first), import a file,
 * or have a line learned from past tracks proposed over the current one and use it. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var code = SW.config.routeCode;
    var base = "/api/routes/" + encodeURIComponent(code);
    var failure = document.getElementById("sw-failure");
    var map = SWMap.create("re-map");
    var layers = L.layerGroup().addTo(map);
    var proposalLayers = L.layerGroup().addTo(map);
    var problem = L.layerGroup().addTo(map);
    var editor = null, current = null, shown = null, proposal = null, dirty = false, fitted = false;
    var SOURCES = {
        seed: _("seeded town-to-town line"), edit: _("edited on the map"), geojson: _("GeoJSON file"),
        gpx: _("GPX file"), kml: _("KML file"), learned: _("learned from past tracks")
    };
    var STATS = {
        tracks: _("Tracks used"), tracks_offered: _("Tracks offered"), fixes: _("Fixes"), outliers: _("Outliers left out"),
        length_m: _("Length"), vertices: _("Vertices"), spread_p50_m: _("Typical spread"), spread_max_m: _("Largest spread"),
        max_offset_from_reference_m: _("Farthest from the current line")
    };
    var METRES = { length_m: 1, spread_p50_m: 1, spread_max_m: 1, max_offset_from_reference_m: 1 };

    function $(id) { return document.getElementById(id); }

    function notice(text) { var box = $("re-notice"); box.hidden = !text; box.textContent = text || ""; }

    function fail(err) { Screens.showError(failure, err); }

    function sourceText(s) { return SOURCES[s] || s; }

    // Where an API message about the line points: "lon X, lat Y", a position or the line's ends.
    function located(message, sent) {
        var m = /lon (-?\d+(?:\.\d+)?), lat (-?\d+(?:\.\d+)?)/.exec(message);
        if (m) { return L.latLng(Number(m[2]), Number(m[1])); }
        if (!sent || !sent.length) { return null; }
        m = /position #?(\d+)|the first is #(\d+)/.exec(message);
        if (m) { var i = Number(m[1] || m[2]); return sent[i] ? L.latLng(sent[i][1], sent[i][0]) : null; }
        if (/line's start/.test(message)) { return L.latLng(sent[0][1], sent[0][0]); }
        if (/line's end/.test(message)) { var last = sent[sent.length - 1]; return L.latLng(last[1], last[0]); }
        return null;
    }

    // A refusal in words, beside the controls and (when the API says where) on the map at that place.
    function refused(err, sent) {
        var box = $("re-error"), detail = err && err.detail, message = detail && detail.message ? detail.message : "";
        problem.clearLayers();
        box.hidden = false;
        if (err.status === 409 && detail && detail.code === "version_conflict") {
            var now = /at version (\d+)/.exec(message);
            box.textContent = _("Someone else saved version {n} of this route while you were editing. Your change is not saved: discard it to see theirs, then edit again.",
                { n: now ? now[1] : "?" });
            loadVersions();
            return;
        }
        if (err.status === 422 && detail && detail.code) {
            var heading = {
                invalid_route_geometry: _("This line cannot be the route:"),
                not_enough_history: _("Too few finished transits to learn this route from:"),
                invalid_width_profile: _("The corridor widths do not fit the line:")
            }[detail.code] || _("The request was not valid.");
            box.textContent = heading + " " + message;
            var where = located(message, sent);
            if (where) {
                L.marker(where, { icon: L.divIcon({ className: "re-problem", iconSize: [18, 18] }) })
                    .bindTooltip(SW.esc(message), { permanent: true, direction: "top", className: "re-problem-tip" })
                    .addTo(problem);
                map.panTo(where);
            }
            return;
        }
        box.textContent = err.message || _("The server had a problem. Try again.");
    }

    function clearError() { $("re-error") && ($("re-error").hidden = true); problem.clearLayers(); }

    function setDirty(value) {
        dirty = value;
        if ($("re-save")) { $("re-save").disabled = !value; $("re-undo").disabled = !value; }
    }

    function latlngs(geojson) { return geojson.coordinates.map(function (c) { return [c[1], c[0]]; }); }

    function draw(v) {
        layers.clearLayers();
        if (editor) { editor.destroy(); editor = null; }
        var corridor = SWMap.corridor(map, v.corridor, v.default_width_m);
        layers.addLayer(corridor);
        var editable = SW.may("edit") && v.version === current;
        if (editable) {
            editor = new VertexEditor(map, latlngs(v.polyline), {
                onChange: function () { setDirty(true); },
                onSelect: function (i) { $("re-remove").disabled = i === null; },
                onRefuse: function () { notice(_("A route needs at least two vertices.")); },
                onCrowded: function (crowded) { $("re-zoom-hint").hidden = !crowded; }
            });
        } else {
            layers.addLayer(L.polyline(latlngs(v.polyline), { color: v.version === current ? "#1c7ed6" : "#7048e8", weight: 3 })
                .bindTooltip(SW.esc(_("Version {n}", { n: v.version }))));
        }
        if (!fitted) {  // at once, not animated: vertex handles are placed for the view it ends in
            map.fitBounds(corridor.getBounds(), { padding: [20, 20], animate: false });
            fitted = true;
        }
        $("re-map").dataset.version = v.version;
        $("re-showing").textContent = v.version === current
            ? _("Current version {n}, by {who} at {when}.", { n: v.version, who: v.created_by, when: SW.fmt.zoned(v.created_at) })
            : _("Showing version {n} of {m} (not the current one), by {who} at {when}.",
                { n: v.version, m: current, who: v.created_by, when: SW.fmt.zoned(v.created_at) });
        if ($("re-edit")) { $("re-edit").hidden = v.version !== current; }
    }

    function show(version) {
        return SW.api(base + "/versions/" + version).then(function (v) {
            shown = v.version;
            setDirty(false);
            draw(v);
            markRows();
        });
    }

    function markRows() {
        Array.prototype.forEach.call(document.querySelectorAll("#re-versions tbody tr"), function (tr) {
            var v = Number(tr.dataset.version);
            tr.classList.toggle("current", v === current);
            tr.classList.toggle("shown", v === shown);
        });
    }

    function loadVersions() {
        return SW.api(base + "/versions").then(function (list) {
            var body = document.querySelector("#re-versions tbody");
            body.textContent = "";
            list.slice().reverse().forEach(function (v) {
                var link = el("a", { href: "#v" + v.version, text: String(v.version) });
                link.addEventListener("click", function (ev) {
                    ev.preventDefault();
                    if (dirty && !window.confirm(_("Discard your unsaved changes?"))) { return; }
                    show(v.version).catch(fail);
                });
                body.appendChild(el("tr", { "data-version": v.version }, [
                    el("td", { className: "num" }, [link]), el("td", { text: v.created_by }),
                    el("td", { text: SW.fmt.time(v.created_at) }), el("td", { text: sourceText(v.source) }),
                    el("td", { text: v.note })
                ]));
            });
            markRows();
            return list;
        });
    }

    function load() {
        failure.hidden = true;
        return Promise.all([SW.api(base), loadVersions()]).then(function (r) {
            $("re-name").textContent = r[0].name;
            current = r[0].version;
            return show(current);
        }).catch(fail);
    }

    // ``refit``: a line from elsewhere (a file, past tracks) may lie beyond the current view.
    function afterSave(v, text, refit) {
        clearError();
        if (refit) { fitted = false; }
        $("re-note").value = "";
        notice(text || _("Saved as version {n}.", { n: v.version }));
        dismissProposal();
        return load();
    }

    function save() {
        var sent = editor.lonlat();
        var body = { geometry: { type: "LineString", coordinates: sent }, expected_version: current, note: $("re-note").value.trim() };
        $("re-save").disabled = true;
        clearError();
        SW.api(base + "/geometry", { method: "PUT", body: body }).then(function (v) { return afterSave(v); },
            function (err) { $("re-save").disabled = false; refused(err, sent); });
    }

    // The file goes as the request body, as the import endpoint takes it.
    function importFile() {
        var file = $("re-file").files[0];
        if (!file) { notice(_("Choose a GeoJSON, GPX or KML file first.")); return; }
        var q = new URLSearchParams({ filename: file.name, expected_version: current, note: $("re-note").value.trim() });
        clearError();
        $("re-import").disabled = true;
        fetch(base + "/geometry/import?" + q.toString(), {
            method: "POST", credentials: "same-origin", body: file,
            headers: { "Accept": "application/json", "Content-Type": file.type || "application/octet-stream" }
        }).then(function (r) {
            if (r.status === 401) { SW.loginAgain(); throw new Error(_("Your session has ended.")); }
            return r.json().catch(function () { return {}; }).then(function (body) {
                if (!r.ok) { var err = new Error(SW.errorText(r.status)); err.status = r.status; err.detail = body.detail; throw err; }
                return body;
            });
        }).then(function (v) {
            $("re-import").disabled = false;
            $("re-file").value = "";
            return afterSave(v, _("Imported {file} as version {n}.", { file: file.name, n: v.version }), true);
        }, function (err) { $("re-import").disabled = false; refused(err, null); });
    }

    function dismissProposal() {
        proposal = null;
        proposalLayers.clearLayers();
        if ($("re-proposal")) { $("re-proposal").hidden = true; }
    }

    function learn() {
        clearError();
        $("re-learn").disabled = true;
        SW.api(base + "/learn", { method: "POST", body: { save: false } }).then(function (p) {
            $("re-learn").disabled = false;
            proposal = p;
            proposalLayers.clearLayers();
            proposalLayers.addLayer(L.geoJSON(p.corridor, { style: { color: "#e8590c", weight: 1, fillColor: "#ffa94d", fillOpacity: 0.2 } }));
            proposalLayers.addLayer(L.polyline(latlngs(p.geometry), { color: "#e8590c", weight: 3, dashArray: "8 6" })
                .bindTooltip(SW.esc(_("Proposed line"))));
            var stats = $("re-proposal-stats");
            stats.textContent = "";
            Object.keys(p.stats).forEach(function (k) {
                var value = p.stats[k];
                stats.appendChild(el("dt", { text: STATS[k] || k.replace(/_/g, " ") }));
                stats.appendChild(el("dd", { "data-stat": k, text: METRES[k] ? SW.fmt.km(value) : SW.fmt.number(value) }));
            });
            stats.appendChild(el("dt", { text: _("Corridor") }));
            stats.appendChild(el("dd", { text: _("±{n} m", { n: SW.fmt.integer(p.default_width_m) }) }));
            $("re-proposal").hidden = false;
        }, function (err) { $("re-learn").disabled = false; refused(err, null); });
    }

    function useProposal() {
        if (!proposal) { return; }
        clearError();
        $("re-use").disabled = true;
        var body = { save: true, expected_version: current, note: $("re-note").value.trim() };
        SW.api(base + "/learn", { method: "POST", body: body }).then(function (p) {
            $("re-use").disabled = false;
            return afterSave(p.saved, null, true);
        }, function (err) { $("re-use").disabled = false; refused(err, null); });
    }

    if (SW.may("edit")) {
        $("re-save").addEventListener("click", save);
        $("re-undo").addEventListener("click", function () { clearError(); notice(""); load(); });
        $("re-remove").addEventListener("click", function () { if (editor) { editor.removeSelected(); } });
        $("re-import").addEventListener("click", importFile);
        $("re-learn").addEventListener("click", learn);
        $("re-use").addEventListener("click", useProposal);
        $("re-dismiss").addEventListener("click", dismissProposal);
        window.addEventListener("beforeunload", function (ev) { if (dirty) { ev.preventDefault(); ev.returnValue = ""; } });
    }
    load();
})();
