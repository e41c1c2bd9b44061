/* What the workspace pages share on top of sw.js: dates picked in the display time zone, query
 * strings from a filter form, keyset paging, small DOM builders. */
(function (global) {
    "use strict";

    var parts = new Intl.DateTimeFormat("en-US", {
        timeZone: SW.config.tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
    });

    // Milliseconds the display time zone is ahead of UTC at the instant ``ms``.
    function offsetAt(ms) {
        var p = {};
        parts.formatToParts(new Date(ms)).forEach(function (x) { p[x.type] = x.value; });
        var asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second);
        return asUtc - Math.floor(ms / 1000) * 1000;
    }

    // "2026-03-01" (a date picked in the display time zone) -> ISO UTC of its midnight there,
    // plus ``days`` (1: the end of that day).
    function zonedMidnight(date, days) {
        if (!date) { return null; }
        var d = date.split("-").map(Number);
        var guess = Date.UTC(d[0], d[1] - 1, d[2] + (days || 0));
        var ms = guess - offsetAt(guess);
        ms = guess - offsetAt(ms);  // again, in case the offset changes that night
        return new Date(ms).toISOString();
    }

    // Today's date in the display time zone, shifted by ``days``: "2026-03-01".
    function zonedDate(days) {
        var ms = Date.now() + (days || 0) * 86400000;
        return new Date(ms + offsetAt(ms)).toISOString().slice(0, 10);
    }

    // Query parameters from a form: empty fields left out; date fields converted to UTC instants
    // (data-edge="end": the end of the chosen day).
    function formQuery(form) {
        var q = new URLSearchParams();
        Array.prototype.forEach.call(form.elements, function (field) {
            if (!field.name || field.value === "" || field.disabled) { return; }
            if (field.multiple) {
                Array.prototype.forEach.call(field.selectedOptions, function (o) { q.append(field.name, o.value); });
            } else if (field.type === "date") {
                q.set(field.name, zonedMidnight(field.value, field.dataset.edge === "end" ? 1 : 0));
            } else {
                q.set(field.name, field.value.trim());
            }
        });
        return q;
    }

    // Keyset pages: remembers the cursors of earlier pages so "previous" works.
    function Pager(load, onPage) {
        this.cursors = [null];
        this.load = load;
        this.onPage = onPage;
    }
    Pager.prototype.first = function () { this.cursors = [null]; return this.show(); };
    Pager.prototype.show = function () {
        var self = this, cursor = this.cursors[this.cursors.length - 1];
        return this.load(cursor).then(function (page) {
            self.next = page.next_cursor;
            self.onPage(page, self.cursors.length, !!page.next_cursor, self.cursors.length > 1);
        });
    };
    Pager.prototype.forward = function () { if (this.next) { this.cursors.push(this.next); return this.show(); } };
    Pager.prototype.back = function () { if (this.cursors.length > 1) { this.cursors.pop(); return this.show(); } };

    // A table body filled one keyset page at a time, with the pager's buttons under it (ids
    // <prefix>-prev, -next, -page) and an optional count (<prefix>-total, from page.total).
    function pagedTable(o) {
        var body = document.querySelector(o.table + " tbody"), failure = document.getElementById("sw-failure");
        function id(s) { return document.getElementById(o.prefix + "-" + s); }
        var pager = new Pager(function (cursor) {
            failure.hidden = true;
            return SW.api(o.url(cursor)).catch(function (err) {
                showError(failure, err);
                return { items: [], total: 0, next_cursor: null };
            });
        }, function (page, number, hasNext, hasPrev) {
            if (id("total") && page.total !== undefined) { id("total").textContent = o.total(page.total); }
            body.textContent = "";
            page.items.forEach(function (item) { body.appendChild(o.row(item)); });
            if (!page.items.length) {
                body.appendChild(el("tr", {}, [el("td", { colspan: o.columns, className: "sw-muted", text: o.empty })]));
            }
            id("page").textContent = SW._("Page {n}", { n: number });
            id("next").disabled = !hasNext;
            id("prev").disabled = !hasPrev;
        });
        id("next").addEventListener("click", function () { pager.forward(); });
        id("prev").addEventListener("click", function () { pager.back(); });
        return pager;
    }

    function el(tag, attrs, children) {
        var node = document.createElement(tag);
        Object.keys(attrs || {}).forEach(function (k) {
            if (k === "text") { node.textContent = attrs[k]; }
            else if (k === "className") { node.className = attrs[k]; }
            else if (attrs[k] !== null && attrs[k] !== undefined) { node.setAttribute(k, attrs[k]); }
        });
        (children || []).forEach(function (c) { if (c) { node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); } });
        return node;
    }

    function badge(kind, value) {
        return el("span", { className: "sw-badge " + value, text: SW.label(kind, value), "data-value": value });
    }

    function showError(box, err) {
        box.hidden = false;
        box.textContent = err && err.message ? err.message : SW._("The server had a problem. Try again.");
    }

    // Options of a <select> from a vocabulary kind, after its first ("any") option.
    function fillOptions(select, kind, values) {
        (values || Object.keys(SW.config.labels[kind] || {})).forEach(function (v) {
            select.appendChild(el("option", { value: v, text: SW.label(kind, v) }));
        });
    }

    function routes(select) {
        return SW.api("/api/routes").then(function (list) {
            list.forEach(function (r) { select.appendChild(el("option", { value: r.code, text: r.code + " · " + r.name })); });
        });
    }

    global.Screens = {
        zonedMidnight: zonedMidnight, zonedDate: zonedDate, formQuery: formQuery, Pager: Pager, pagedTable: pagedTable,
        el: el, badge: badge,
        showError: showError, fillOptions: fillOptions, routes: routes
    };
})(window);
