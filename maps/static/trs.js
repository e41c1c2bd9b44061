/* The Time Release Study: per route and period, medians and 90th percentiles of release-to-arrival
 * time against the limit, border control time per channel, charted and tabled; every transit listed. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var form = document.getElementById("trs-filters");
    var failure = document.getElementById("sw-failure");
    var MAX_ROWS = 500;

    Screens.fillOptions(form.elements.channel, "channel");
    form.elements.start.value = Screens.zonedDate(-30);

    function h(s) { return s === null || s === undefined ? "–" : _("{n} h", { n: SW.fmt.number(s / 3600) }); }
    function min(s) { return s === null || s === undefined ? "–" : _("{n} min", { n: SW.fmt.integer(s / 60) }); }

    function load() {
        var q = Screens.formQuery(form);
        q.set("transits", "true");
        failure.hidden = true;
        SW.api("/api/trs?" + q.toString()).then(function (data) {
            var o = data.overall;
            document.getElementById("trs-overall").textContent = o ? _(
                "{n} transits, {arrived} arrived, {late} late; median transit time {median}, 90th percentile {p90}.",
                { n: o.transits, arrived: o.arrived, late: o.late, median: h(o.transit_time_s_median), p90: h(o.transit_time_s_p90) }
            ) : _("No transit in this period.");
            SWChart.bars(document.getElementById("trs-route-chart"), data.by_route.filter(function (r) {
                return r.transit_time_s_median !== null;
            }).map(function (r) {
                return { label: r.key || _("ad hoc"), values: { median: r.transit_time_s_median / 3600, p90: r.transit_time_s_p90 / 3600 },
                    mark: r.time_limit_s_avg / 3600 };
            }), [
                { key: "median", name: _("median"), color: "#1565c0" },
                { key: "p90", name: _("90th percentile"), color: "#90caf9" }
            ], { format: function (v) { return _("{n} h", { n: SW.fmt.number(v) }); }, markName: _("time limit"),
                 title: _("Transit time per route (release to arrival)") });
            SWChart.bars(document.getElementById("trs-channel-chart"), data.by_channel.filter(function (r) {
                return r.border_control_s_median !== null;
            }).map(function (r) {
                return { label: SW.label("channel", r.key), values: { median: r.border_control_s_median / 60, p90: r.border_control_s_p90 / 60 } };
            }), [
                { key: "median", name: _("median"), color: "#2e7d32" },
                { key: "p90", name: _("90th percentile"), color: "#a5d6a7" }
            ], { format: function (v) { return _("{n} min", { n: SW.fmt.integer(v) }); }, labelWidth: 110,
                 title: _("Border control time per channel") });
            var routes = document.querySelector("#trs-routes tbody");
            routes.textContent = "";
            data.by_route.forEach(function (r) {
                routes.appendChild(el("tr", { "data-route": r.key }, [
                    el("td", { text: r.key || _("ad hoc") }), el("td", { className: "num", text: SW.fmt.integer(r.transits) }),
                    el("td", { className: "num", text: SW.fmt.integer(r.arrived) }), el("td", { className: "num", text: SW.fmt.integer(r.late) }),
                    el("td", { className: "num", text: h(r.transit_time_s_median) }), el("td", { className: "num", text: h(r.transit_time_s_p90) }),
                    el("td", { className: "num", text: h(r.time_limit_s_avg) }), el("td", { className: "num", text: min(r.border_control_s_median) })
                ]));
            });
            var list = document.querySelector("#trs-transits tbody");
            list.textContent = "";
            data.transits.slice(-MAX_ROWS).reverse().forEach(function (t) {
                list.appendChild(el("tr", {}, [
                    el("td", {}, [el("a", { href: "/auditor/transits/" + encodeURIComponent(t.transit_id), text: t.transit_id })]),
                    el("td", { text: t.route_code || _("ad hoc") }), el("td", {}, [Screens.badge("channel", t.channel)]),
                    el("td", { text: SW.fmt.time(t.released_at) }), el("td", { className: "num", text: h(t.transit_time_s) }),
                    el("td", { className: "num", text: h(t.time_limit_s) }),
                    el("td", { text: t.within_limit === null ? "–" : (t.within_limit ? _("yes") : _("no")) }),
                    el("td", { className: "num", text: min(t.border_control_s) })
                ]));
            });
        }, function (err) { Screens.showError(failure, err); });
    }

    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    Screens.routes(form.elements.route).then(load, load);
})();
