/* The routes: each with its current geometry version and who changed it when, from what. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var body = document.querySelector("#rl-routes tbody");
    var SOURCES = {
        seed: _("seeded town-to-town line"), edit: _("edited on the map"), geojson: _("GeoJSON file"),
        gpx: _("GPX file"), kml: _("KML file"), learned: _("learned from past tracks")
    };

    SW.api("/api/routes").then(function (routes) {
        return Promise.all(routes.map(function (r) {
            return SW.api("/api/routes/" + encodeURIComponent(r.code) + "/versions").then(function (versions) {
                return { route: r, latest: versions[versions.length - 1] };
            });
        }));
    }).then(function (rows) {
        body.textContent = "";
        rows.forEach(function (row) {
            var r = row.route, v = row.latest || {};
            body.appendChild(el("tr", { "data-route": r.code }, [
                el("td", {}, [el("a", { href: "/routes/" + encodeURIComponent(r.code), text: r.code })]),
                el("td", { text: r.name }), el("td", { className: "num", text: String(r.version) }),
                el("td", { text: v.created_by || "" }), el("td", { text: SW.fmt.time(v.created_at) }),
                el("td", { text: SOURCES[v.source] || v.source || "" })
            ]));
        });
    }).catch(function (err) { Screens.showError(document.getElementById("sw-failure"), err); });
})();
