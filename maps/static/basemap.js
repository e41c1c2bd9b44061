// The offline basemap: the GeoJSON layers listed in /static/basemap/manifest.json (water, countries,
// borders, towns and, when present, roads), drawn in their own pane beneath routes and seals, with
// the attribution their licences ask for. Served by the app: nothing comes from the internet.
"use strict";

var SealwatchBasemap = (function () {
    var STYLES = {
        water: function () {
            return { color: "#6f9fc0", weight: 1, fillColor: "#d3e6f3", fillOpacity: 1 };
        },
        countries: function (feature) {
            var home = feature.properties.iso_a3 === "AZE";
            return { stroke: false, fillColor: home ? "#fbf8f2" : "#ece8e0", fillOpacity: 1 };
        },
        borders: function () {
            return { color: "#7d6b5d", weight: 1.6, dashArray: "6 3" };
        },
        roads: function () {
            return { color: "#d9a066", weight: 1.4 };
        },
    };
    var LABEL_FROM = 50000; // towns at least this large are labelled; smaller ones on hover

    function lang() {
        var l = (document.documentElement.lang || navigator.language || "en").slice(0, 2);
        return l === "az" || l === "ru" ? l : "en";
    }

    function townName(p) {
        var l = lang();
        return (l === "az" && p.name_az) || (l === "ru" && p.name_ru) || p.name;
    }

    function town(feature, latlng) {
        var p = feature.properties;
        var big = p.population >= LABEL_FROM;
        return L.circleMarker(latlng, {
            pane: "basemap",
            radius: big ? 3.5 : 2.5,
            color: "#5c5c5c",
            weight: 1,
            fillColor: "#ffffff",
            fillOpacity: 1,
            interactive: true,
        }).bindTooltip(townName(p), { permanent: big, direction: "right", className: "town-label" });
    }

    function layer(id, data) {
        if (id === "towns") {
            return L.geoJSON(data, { pane: "basemap", pointToLayer: town });
        }
        return L.geoJSON(data, { pane: "basemap", interactive: false, style: STYLES[id] || STYLES.roads });
    }

    function add(map, manifestUrl) {
        var base = manifestUrl.slice(0, manifestUrl.lastIndexOf("/") + 1);
        map.createPane("basemap");
        map.getPane("basemap").style.zIndex = 250; // below overlays (400) and markers (600)
        return fetch(manifestUrl)
            .then(function (r) { return r.json(); })
            .then(function (manifest) {
                var files = manifest.layers.map(function (l) {
                    return fetch(base + l.file).then(function (r) { return r.json(); });
                });
                return Promise.all(files).then(function (datas) {
                    manifest.layers.forEach(function (l, i) { layer(l.id, datas[i]).addTo(map); });
                    map.attributionControl.addAttribution(manifest.attribution);
                    document.documentElement.dataset.basemap = "ready";
                    return manifest;
                });
            })
            .catch(function (err) {
                document.documentElement.dataset.basemap = "failed";
                console.warn("basemap unavailable", err);
            });
    }

    return { add: add };
})();
