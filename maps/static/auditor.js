/* The auditor's transit search: filters, keyset pages, a row per transit linking to its record. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var form = document.getElementById("aud-filters");
    var body = document.querySelector("#aud-results tbody");
    var failure = document.getElementById("sw-failure");
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

    var pager = new Screens.Pager(function (cursor) {
        var q = Screens.formQuery(form);
        q.set("limit", PAGE);
        if (cursor) { q.set("cursor", cursor); }
        failure.hidden = true;
        return SW.api("/api/history/transits?" + q.toString()).catch(function (err) {
            Screens.showError(failure, err);
            return { items: [], next_cursor: null };
        });
    }, function (page, number, hasNext, hasPrev) {
        body.textContent = "";
        page.items.forEach(function (t) { body.appendChild(row(t)); });
        if (!page.items.length) {
            body.appendChild(el("tr", {}, [el("td", { colspan: 9, className: "sw-muted", text: _("No transit matches.") })]));
        }
        document.getElementById("aud-page").textContent = _("Page {n}", { n: number });
        document.getElementById("aud-next").disabled = !hasNext;
        document.getElementById("aud-prev").disabled = !hasPrev;
    });

    form.addEventListener("submit", function (ev) { ev.preventDefault(); pager.first(); });
    document.getElementById("aud-next").addEventListener("click", function () { pager.forward(); });
    document.getElementById("aud-prev").addEventListener("click", function () { pager.back(); });
    Screens.routes(form.elements.route).then(function () { pager.first(); }, function () { pager.first(); });
})();
