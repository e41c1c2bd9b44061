/* The auditor's transit search: filters, keyset pages, a row per transit linking to its record. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var form = document.getElementById("aud-filters");
    var PAGE = 25;

    Screens.fillOptions(form.elements.status, "transit_status");
    Screens.fillOptions(form.elements.alert_type, "alert_type");
    Screens.fillOptions(form.elements.outcome, "outcome");

    function row(t) {
        var link = el("a", { href: "/auditor/transits/" + encodeURIComponent(t.transit_id), text: t.transit_id });
        var alerts = t.alert_count ? _("{n} ({open} open)", { n: t.alert_count, open: t.open_alert_count }) : "0";
        return el("tr", { "data-transit-id": t.transit_id }, [
            el("td", {}, [link]),
            el("td", { text: SW.fmt.time(t.released_at) }),
            el("td", { text: t.route_code || _("ad hoc") }),
            el("td", { text: t.carrier_name }),
            el("td", { text: t.vehicle_plate }),
            el("td", {}, [Screens.badge("channel", t.channel)]),
            el("td", { text: SW.label("transit_status", t.status) }),
            el("td", { className: "num", text: alerts }),
            el("td", { text: SW.fmt.time(t.arrived_at) })
        ]);
    }

    var pager = Screens.pagedTable({
        table: "#aud-results", prefix: "aud", columns: 9, row: row, empty: _("No transit matches."),
        url: function (cursor) {
            var q = Screens.formQuery(form);
            q.set("limit", PAGE);
            if (cursor) { q.set("cursor", cursor); }
            return "/api/history/transits?" + q.toString();
        }
    });

    form.addEventListener("submit", function (ev) { ev.preventDefault(); pager.first(); });
    Screens.routes(form.elements.route).then(function () { pager.first(); }, function () { pager.first(); });
})();
