/* Leaflet maps of the workspaces: a map with the configured base tiles (none by default: the
 * control center may be offline), the declared route, its corridor and zones; fitted to what it shows.
 * Leaflet itself is served from /static/vendor/leaflet. */
(function (global) {
    "use strict";

    var ZONE_COLORS = {
        customs_office: "#212529", border_checkpoint: "#8d6e63", authorized_stop: "#2a9d8f", restricted_area: "#d62828"
    };
    var SEVERITY_COLORS = { critical: "#c62828", warning: "#ef6c00", info: "#1565c0" };

    function create(id) {
        // Quarter zoom steps: fitted to a track, the map fills with it instead of halving it at a whole step.
        var map = L.map(id, { zoomControl: true, zoomSnap: 0.25, zoomDelta: 0.5 }).setView([40.4, 47.5], 7);
        var tiles = SW.config.tiles;
        if (tiles && tiles.url) {
            L.tileLayer(tiles.url, { attribution: tiles.attribution, maxZoom: 18 }).addTo(map);
        }
        L.control.scale({ imperial: false }).addTo(map);
        // The same offline basemap as the console (Caspian, borders, towns), beneath everything.
        if (global.SealwatchBasemap) { SealwatchBasemap.add(map, SW.config.static + "/basemap/manifest.json"); }
        return map;
    }

    function corridor(map, geojson, widthM) {
        return L.geoJSON(geojson, {
            style: { color: "#6c757d", weight: 1, fillColor: "#adb5bd", fillOpacity: 0.25 }
        }).bindTooltip(SW.esc(SW._("Corridor ±{n} m", { n: SW.fmt.integer(widthM) }))).addTo(map);
    }

    function route(map, line) {
        return L.geoJSON(line, { style: { color: "#495057", weight: 2, dashArray: "6 4" } })
            .bindTooltip(SW.esc(SW._("Declared route"))).addTo(map);
    }

    function zones(map, list) {
        var group = L.layerGroup().addTo(map);
        (list || []).forEach(function (z) {
            var c = ZONE_COLORS[z.kind] || "#6c757d";
            L.geoJSON(z.geometry, { style: { color: c, weight: 1, fillColor: c, fillOpacity: 0.15 } })
                .bindTooltip(SW.esc(z.name)).addTo(group);  // Leaflet tooltips take HTML: text is escaped
        });
        return group;
    }

    function alertMarker(a, options) {
        return L.circleMarker([a.lat, a.lon], Object.assign({
            radius: 8, color: "#fff", weight: 2, fillColor: SEVERITY_COLORS[a.severity] || "#6c757d", fillOpacity: 1
        }, options || {})).bindTooltip(SW.esc(SW.label("alert_type", a.type) + " · " + SW.fmt.time(a.first_t)));
    }

    function fit(map, layers) {
        var bounds = L.latLngBounds([]);
        layers.forEach(function (l) {
            if (l && l.getBounds && l.getBounds().isValid()) { bounds.extend(l.getBounds()); }
        });
        if (bounds.isValid()) { map.fitBounds(bounds, { padding: [20, 20] }); } else { map.setView([40.4, 47.5], 7); }
    }

    global.SWMap = {
        create: create, corridor: corridor, route: route, zones: zones, alertMarker: alertMarker, fit: fit,
        SEVERITY_COLORS: SEVERITY_COLORS
    };
})(window);
