/* Alert statistics: counts and false-alarm rates by alert type, route and carrier, charted. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var form = document.getElementById("st-filters");
    var failure = document.getElementById("sw-failure");

    form.elements.start.value = Screens.zonedDate(-30);

    function pct(rate) { return rate === null || rate === undefined ? "–" : SW.fmt.number(rate * 100) + " %"; }

    function name(group, r) {
        if (group === "by_type") { return SW.label("alert_type", r.key); }
        if (group === "by_route" && r.key === "ad hoc") { return _("ad hoc"); }
        return r.label;
    }

    function load() {
        failure.hidden = true;
        SW.api("/api/alerts/stats?" + Screens.formQuery(form).toString()).then(function (data) {
            document.getElementById("st-total").textContent = _("{n} alerts in the period.", { n: SW.fmt.integer(data.total) });
            document.querySelectorAll(".st-group").forEach(function (section) {
                var group = section.dataset.group, rows = data[group];
                SWChart.bars(section.querySelector(".sw-chart"), rows.map(function (r) {
                    return { label: name(group, r) + " (" + r.reviewed + "/" + r.total + ")",
                        values: { rate: r.false_alarm_rate === null ? null : r.false_alarm_rate * 100 } };
                }), [{ key: "rate", name: _("False-alarm rate"), color: "#ef6c00" }], {
                    format: function (v) { return SW.fmt.number(v) + " %"; }, max: 100, labelWidth: 240,
                    title: _("False-alarm rate")
                });
                var body = section.querySelector("tbody");
                body.textContent = "";
                rows.forEach(function (r) {
                    body.appendChild(el("tr", { "data-key": r.key }, [
                        el("td", { text: name(group, r) }), el("td", { className: "num", text: SW.fmt.integer(r.total) }),
                        el("td", { className: "num", text: SW.fmt.integer(r.open) }), el("td", { className: "num", text: SW.fmt.integer(r.reviewed) }),
                        el("td", { className: "num", text: SW.fmt.integer(r.false_alarms) }), el("td", { className: "num", text: SW.fmt.integer(r.violations) }),
                        el("td", { className: "num", text: pct(r.false_alarm_rate) })
                    ]));
                });
            });
        }, function (err) { Screens.showError(failure, err); });
    }

    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    load();
})();
