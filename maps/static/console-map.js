/* The console's map: Leaflet on canvas. Units are clustered on a screen grid (one circle per cell,
 * coloured by the worst state in it, with its count), recomputed for the view after each move or
 * update: only the few hundred visible cells become Leaflet layers, whatever the number of seals.
 * Troubled units (tampered, opened, deviating, silent, overdue, or with a critical alert) are
 * clustered apart in a pane above the healthy ones, so a green crowd never hides them; a ring in
 * the colour of the worst open alert's severity is drawn around a unit (or cluster) at its current
 * position, so the alert marker moves with the truck. */
(function (global) {
    "use strict";

    var cfg = SW.config;
    var SEV_COLORS = { critical: "#c62828", warning: "#ef6c00", info: "#1565c0" };
    var CELL_PX = 44;
    var SINGLE_FROM_ZOOM = 13;   // from this zoom on every unit is drawn alone

    var map = null;
    var panes = {};
    var layers = {};
    var units = [];      // the filtered units to draw (set by the list)
    var onSelect = function () {};
    var pending = false;
    var drawnCount = { cells: 0, units: 0, trouble: 0 };
    var selected = null;
    var drawnListeners = [];

    // A circle marker that writes its count in its middle (canvas renderer only).
    var CountMarker = L.CircleMarker.extend({
        _updatePath: function () {
            L.CircleMarker.prototype._updatePath.call(this);
            var n = this.options.count;
            var ctx = this._renderer && this._renderer._ctx;
            if (!ctx || !n || n < 2) { return; }
            var p = this._point;
            ctx.save();
            ctx.font = "bold 11px system-ui, sans-serif";
            ctx.textAlign = "center";
            ctx.textBaseline = "middle";
            ctx.fillStyle = this.options.textColor || "#fff";
            ctx.fillText(n >= 10000 ? Math.round(n / 1000) + "k" : n >= 1000 ? (n / 1000).toFixed(1) + "k" : String(n), p.x, p.y);
            ctx.restore();
        }
    });

    function stateColor(state) { return cfg.stateColors[state] || "#52606d"; }

    function textColor(state) { return state === "low_battery" ? "#1f2933" : "#fff"; }

    function makePane(name, z) {
        map.createPane(name);
        map.getPane(name).style.zIndex = String(z);
        panes[name] = L.canvas({ pane: name, padding: 0.3 });
        layers[name] = L.layerGroup().addTo(map);
    }

    function addGeography() {
        map.createPane("sw-routes");
        map.getPane("sw-routes").style.zIndex = "380";
        var routes = L.layerGroup().addTo(map);
        var canvas = L.canvas({ pane: "sw-routes" });
        cfg.routes.forEach(function (r) {
            L.polyline(r.line, { renderer: canvas, pane: "sw-routes", color: "#8d99ae", weight: 3, opacity: 0.75 })
                .bindTooltip(SW.esc(r.name)).addTo(routes);
        });
        cfg.places.forEach(function (p) {
            L.circleMarker([p.lat, p.lon], {
                renderer: canvas, pane: "sw-routes", radius: 4, color: "#fff", weight: 2, fillOpacity: 1,
                fillColor: p.kind === "border_checkpoint" ? "#8d6e63" : "#212529"
            }).bindTooltip(SW.esc(p.name), { permanent: true, direction: "right", className: "place-label" }).addTo(routes);
        });
    }

    function init(el, select) {
        onSelect = select;
        map = L.map(el, { preferCanvas: true, minZoom: 5, maxZoom: 17, zoomControl: true }).setView([40.4, 47.6], 7);
        if (cfg.tiles && cfg.tiles.url) {
            L.tileLayer(cfg.tiles.url, { attribution: cfg.tiles.attribution, maxZoom: 18 }).addTo(map);
        }
        L.control.scale({ imperial: false }).addTo(map);
        if (global.SealwatchBasemap) { global.SealwatchBasemap.add(map, cfg.basemap); }
        addGeography();
        map.createPane("sw-track");
        map.getPane("sw-track").style.zIndex = "430";
        layers.track = L.layerGroup().addTo(map);
        makePane("sw-healthy", 440);
        makePane("sw-trouble", 450);
        makePane("sw-selected", 460);
        map.createPane("sw-groups");
        map.getPane("sw-groups").style.zIndex = "620";
        layers.groups = L.layerGroup().addTo(map);
        map.on("moveend", schedule);
        return map;
    }

    // Web Mercator at zoom 0 in 256-px tiles: cheaper than map.project for 100,000 points.
    function mx(lon) { return (lon + 180) / 360 * 256; }
    function my(lat) {
        var s = Math.sin(lat * Math.PI / 180);
        return (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256;
    }

    function cluster() {
        var zoom = map.getZoom();
        var scale = Math.pow(2, zoom) / (zoom >= SINGLE_FROM_ZOOM ? 1 : CELL_PX);
        var b = map.getBounds().pad(0.25);
        var s = b.getSouth(), n = b.getNorth(), w = b.getWest(), e = b.getEast();
        var cells = { healthy: new Map(), trouble: new Map() };
        var single = zoom >= SINGLE_FROM_ZOOM;
        for (var i = 0; i < units.length; i++) {
            var u = units[i];
            if (u.lat === null || u.lat < s || u.lat > n || u.lon < w || u.lon > e) { continue; }
            var trouble = SWUnits.isTrouble(u);
            var key = single ? u.id : Math.floor(mx(u.lon) * scale) + ":" + Math.floor(my(u.lat) * scale);
            var bucket = trouble ? cells.trouble : cells.healthy;
            var c = bucket.get(key);
            if (!c) {
                c = { n: 0, lat: 0, lon: 0, rank: 99, state: null, sev: null, unit: u, by: {} };
                bucket.set(key, c);
            }
            c.n += 1;
            c.by[u.state] = (c.by[u.state] || 0) + 1;
            c.lat += u.lat;
            c.lon += u.lon;
            if (u.rank < c.rank) { c.rank = u.rank; c.state = u.state; c.unit = u; }
            if (u.sev && (!c.sev || SWUnits.SEVERITY[u.sev] < SWUnits.SEVERITY[c.sev])) { c.sev = u.sev; }
        }
        return cells;
    }

    function majority(c) {
        var best = c.state;
        Object.keys(c.by).forEach(function (s) { if (c.by[s] > c.by[best]) { best = s; } });
        return best;
    }

    // A troubled cluster is filled with its worst state; a healthy one (stopped, low battery, moving)
    // with its most common state and ringed in its worst, so thirty stopped trucks do not paint
    // ten thousand moving ones blue.
    function marker(c, paneName) {
        var lat = c.n === 1 ? c.unit.lat : c.lat / c.n, lon = c.n === 1 ? c.unit.lon : c.lon / c.n;
        var fill = paneName === "sw-trouble" || c.n === 1 ? c.state : majority(c);
        var ring = c.sev ? SEV_COLORS[c.sev] : fill !== c.state ? stateColor(c.state) : (c.n === 1 ? "#1b1b1b" : "#ffffff");
        var radius = c.n === 1 ? 7 : Math.min(22, 9 + 3.2 * Math.log(c.n) / Math.LN10 * 1.6);
        var m = new CountMarker([lat, lon], {
            renderer: panes[paneName],
            pane: paneName,
            radius: radius,
            count: c.n,
            textColor: textColor(fill),
            fillColor: stateColor(fill),
            fillOpacity: 0.92,
            color: ring,
            weight: c.sev || fill !== c.state ? 3.5 : 1.5
        });
        var u = c.unit;
        if (c.n === 1) {
            m.bindTooltip(SW.esc((u.plate || u.id) + " · " + SW.label("state", u.state)));
            m.on("click", function () { onSelect(u.id); });
        } else {
            m.bindTooltip(SW.esc(SW._("{n} units, worst: {state}", { n: SW.fmt.integer(c.n), state: SW.label("state", c.state) })));
            m.on("click", function () { map.setView([lat, lon], Math.min(map.getZoom() + 2, SINGLE_FROM_ZOOM)); });
        }
        return m;
    }

    function draw() {
        pending = false;
        if (!map) { return; }
        var started = global.performance.now();
        var cells = cluster();
        var clustered = global.performance.now();
        ["healthy", "trouble"].forEach(function (kind) {
            var paneName = "sw-" + kind, group = layers[paneName];
            group.clearLayers();
            // The worst last, so it is painted on top within its pane.
            var list = Array.from(cells[kind].values()).sort(function (a, b) { return b.rank - a.rank; });
            list.forEach(function (c) { group.addLayer(marker(c, paneName)); });
        });
        var states = {}, rings = [];
        ["healthy", "trouble"].forEach(function (kind) {
            cells[kind].forEach(function (c) {
                states[c.state] = (states[c.state] || 0) + 1;
                if (c.sev) {
                    var one = c.n === 1;
                    rings.push({ sev: c.sev, n: c.n, lat: one ? c.unit.lat : c.lat / c.n, lon: one ? c.unit.lon : c.lon / c.n });
                }
            });
        });
        drawnCount = {
            cells: cells.healthy.size + cells.trouble.size,
            trouble: cells.trouble.size,
            units: units.length,
            states: states,
            rings: rings,
            clusterMs: Math.round(clustered - started),
            drawMs: Math.round(global.performance.now() - started)
        };
        drawSelected();
        drawnListeners.forEach(function (fn) { fn(drawnCount); });
    }

    function schedule() {
        if (pending) { return; }
        pending = true;
        global.requestAnimationFrame(draw);
    }

    function setUnits(list) {
        units = list;
        schedule();
    }

    function drawSelected() {
        var group = layers["sw-selected"];
        group.clearLayers();
        var u = selected && SWUnits.get(selected);
        if (!u || u.lat === null) { return; }
        L.circleMarker([u.lat, u.lon], {
            renderer: panes["sw-selected"], pane: "sw-selected", radius: 13, fill: false,
            color: "#0b5cad", weight: 3, dashArray: "4 3", interactive: false
        }).addTo(group);
    }

    function showTrack(track) {
        layers.track.clearLayers();
        if (track && track.type) {
            L.geoJSON(track, { pane: "sw-track", style: { color: "#0b5cad", weight: 3, opacity: 0.8 } })
                .addTo(layers.track);
        }
    }

    function select(id, track) {
        selected = id;
        showTrack(track);
        var u = id && SWUnits.get(id);
        if (u && u.lat !== null) {
            var ll = L.latLng(u.lat, u.lon);
            if (!map.getBounds().pad(-0.2).contains(ll) || map.getZoom() < 9) {
                // Centred in the part of the map the card leaves free (the card covers its right edge).
                var card = document.getElementById("cx-card");
                var covered = card && !card.hidden && global.innerWidth > 800 ? card.offsetWidth : 0;
                var zoom = Math.max(map.getZoom(), 10);
                var p = map.project(ll, zoom).add([covered / 2, 0]);
                map.setView(map.unproject(p, zoom), zoom);
            }
        }
        drawSelected();
    }

    function groupState(g) {
        if (g.busy_with) { return "busy"; }
        var age = (SWUnits.now() - Date.parse(g.updated_at)) / 1000;
        if (!g.available || age > 1800) { return g.available ? "stale" : "busy"; }
        return "available";
    }

    function setGroups(list) {
        var group = layers.groups;
        group.clearLayers();
        list.forEach(function (g) {
            var st = groupState(g);
            L.marker([g.lat, g.lon], {
                pane: "sw-groups",
                icon: L.divIcon({
                    className: "cx-group-icon cx-group-" + st,
                    html: "<span>▲</span>",
                    iconSize: [18, 18]
                }),
                keyboard: false
            }).bindTooltip(SW.esc(g.name + " · " + SW.label("group_state", st) + " · " +
                SW.fmt.age((SWUnits.now() - Date.parse(g.updated_at)) / 1000)))
                .addTo(group);
        });
    }

    global.SWConsoleMap = {
        init: init,
        setUnits: setUnits,
        select: select,
        track: showTrack,
        setGroups: setGroups,
        redraw: schedule,
        onDrawn: function (fn) { drawnListeners.push(fn); },
        drawn: function () { return drawnCount; },
        map: function () { return map; },
        stateColor: stateColor,
        SEV_COLORS: SEV_COLORS
    };
})(window);
