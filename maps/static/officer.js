/* The officer's declaration queue: filters (waiting ones first, oldest first), counted keyset pages. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var form = document.getElementById("q-filters");
    var WAITING = ["submitted", "held", "accepted"];
    var PAGE = 25;

    Screens.fillOptions(form.elements.status, "declaration_status");
    Screens.fillOptions(form.elements.channel, "channel");

    function query(cursor) {
        var q = Screens.formQuery(form);
        if (q.get("status") === "waiting") {
            q.delete("status");
            WAITING.forEach(function (s) { q.append("status", s); });
        }
        if (q.get("office")) { q.set("office", q.get("office").toUpperCase()); }
        q.set("limit", PAGE);
        if (cursor) { q.set("cursor", cursor); }
        return q;
    }

    function row(d) {
        var status = Screens.badge("declaration_status", d.status);
        var held = d.hold_reasons ? el("span", { className: "sw-badge warning", text: _("{n} to resolve", { n: d.hold_reasons }) }) : null;
        return el("tr", { "data-declaration-id": d.id, "data-status": d.status }, [
            el("td", {}, [el("a", { href: "/officer/declarations/" + d.id, text: "#" + d.id + (d.lrn ? " · " + d.lrn : "") })]),
            el("td", { text: SW.fmt.time(d.submitted_at) }),
            el("td", { text: d.declarant_name + " (" + d.declarant_tin + ")" }),
            el("td", { text: d.carrier_name }),
            el("td", { text: d.vehicle_plate }),
            el("td", { text: d.route_code || _("ad hoc") }),
            el("td", {}, [status, held ? " " : null, held]),
            el("td", {}, [d.channel ? Screens.badge("channel", d.channel) : null]),
            el("td", { className: "num", text: SW.fmt.integer(d.items) }),
            el("td", { text: d.transit_id || "" })
        ]);
    }

    var pager = Screens.pagedTable({
        table: "#q-results", prefix: "q", columns: 10, row: row, empty: _("No declaration matches."),
        url: function (cursor) { return "/api/declarations?" + query(cursor).toString(); },
        total: function (n) { return _("{n} declarations", { n: SW.fmt.integer(n) }); }
    });

    form.addEventListener("submit", function (ev) { ev.preventDefault(); pager.first(); });
    Screens.routes(form.elements.route).then(function () { pager.first(); }, function () { pager.first(); });
})();
