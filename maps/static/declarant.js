/* The declarant's own declarations: state, why one is held, the transit it became; cancel while allowed. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var failure = document.getElementById("sw-failure");
    var lodged = new URLSearchParams(location.search).get("lodged");

    if (!SW.may("lodge")) { document.getElementById("my-new").remove(); }
    if (lodged) {
        var box = document.getElementById("my-notice");
        box.hidden = false;
        box.textContent = _("Declaration #{id} lodged.", { id: lodged });
    }

    function details(d, row) {
        var next = row.nextElementSibling;
        if (next && next.classList.contains("my-details")) { next.remove(); return; }
        var cell = el("td", { colspan: 7 });
        var detailsRow = el("tr", { className: "my-details" }, [cell]);
        row.after(detailsRow);
        SW.api("/api/declarations/" + d.id + "/control").then(function (c) {
            var list = el("ul");
            c.hold_reasons.concat(c.errors).forEach(function (e) {
                list.appendChild(el("li", { "data-code": e.code }, [el("code", { text: e.path }), " ", SW.label("error_code", e.code),
                    e.permit_type ? " (" + e.permit_type + ")" : ""]));
            });
            if (!list.children.length) { list.appendChild(el("li", { text: _("Format and logical control passed.") })); }
            cell.appendChild(list);
            if (SW.may("cancel") && ["submitted", "held", "accepted"].indexOf(d.status) >= 0) {
                var reason = el("input", { type: "text", maxlength: 500, placeholder: _("Reason") });
                var button = el("button", { type: "button", className: "sw-button", text: _("Cancel the declaration") });
                button.addEventListener("click", function () {
                    if (!reason.value.trim()) { reason.focus(); return; }
                    SW.api("/api/declarations/" + d.id + "/cancel", { method: "POST", body: { reason: reason.value.trim() } })
                        .then(function () { pager.show(); }, function (err) { Screens.showError(failure, err); });
                });
                cell.appendChild(el("div", { className: "sw-actions" }, [reason, button]));
            }
        }, function (err) { Screens.showError(failure, err); });
    }

    function row(d) {
        var tr = el("tr", { "data-declaration-id": d.id, "data-status": d.status }, [
            el("td", { text: "#" + d.id + (d.lrn ? " · " + d.lrn : "") }),
            el("td", { text: SW.fmt.time(d.submitted_at) }),
            el("td", { text: d.route_code || _("ad hoc") }),
            el("td", { text: d.vehicle_plate }),
            el("td", {}, [Screens.badge("declaration_status", d.status), d.hold_reasons ? " " : null,
                d.hold_reasons ? el("span", { className: "sw-badge warning", text: _("{n} to resolve", { n: d.hold_reasons }) }) : null]),
            el("td", { text: d.transit_id || "" }),
            el("td", {}, [el("button", { type: "button", className: "my-more", text: _("Details") })])
        ]);
        if (String(d.id) === lodged) { tr.classList.add("fresh"); }
        tr.querySelector(".my-more").addEventListener("click", function () { details(d, tr); });
        return tr;
    }

    var pager = Screens.pagedTable({
        table: "#my-list", prefix: "my", columns: 7, row: row, empty: _("You have not lodged a declaration yet."),
        url: function (cursor) {
            var q = new URLSearchParams({ order: "newest", limit: 25 });
            if (cursor) { q.set("cursor", cursor); }
            return "/api/declarations?" + q.toString();
        },
        total: function (n) { return _("{n} declarations", { n: SW.fmt.integer(n) }); }
    });
    pager.first();
})();
