/* The unit list beside the map: search (seal, transit, plate, carrier), filters (state, route,
 * carrier, alert type; the legend toggles states too), sorted by severity. Virtualised: only the
 * rows in view exist in the DOM, so 100,000 units scroll as smoothly as ten. */
(function (global) {
    "use strict";

    var ROW_H = 30;
    var OVERSCAN = 8;
    var filter = { q: "", states: new Set(), route: "", carrier: "", alert: "" };
    var rows = [];          // filtered, sorted units
    var el = {};
    var pool = [];
    var selected = null;
    var listeners = [];
    var alertSeals = null;  // seal ids with an open alert of the filtered type, when rows lack types
    var optionSets = { route: "", carrier: "" };
    var renderPending = false;

    function matches(u) {
        if (filter.states.size && !filter.states.has(u.state)) { return false; }
        if (filter.route && u.route !== filter.route) { return false; }
        if (filter.carrier && u.carrier !== filter.carrier) { return false; }
        if (filter.alert) {
            if (u.types) { if (u.types.indexOf(filter.alert) < 0) { return false; } }
            else if (!alertSeals || !alertSeals.has(u.id)) { return false; }
        }
        if (filter.q && u.key.indexOf(filter.q) < 0) { return false; }
        return true;
    }

    function byId(a, b) { return a.id < b.id ? -1 : a.id > b.id ? 1 : 0; }

    // Severity first, then seal id: one bucket per state, each sorted by id. The units arrive in id
    // order, so each bucket is nearly sorted already and sorting it is close to linear.
    function refilter() {
        var all = SWUnits.store.units;
        var buckets = [];
        for (var i = 0; i < all.length; i++) {
            var u = all[i];
            if (!matches(u)) { continue; }
            (buckets[u.rank] || (buckets[u.rank] = [])).push(u);
        }
        var out = [];
        buckets.forEach(function (b) { if (b) { b.sort(byId); out = out.concat(b); } });
        rows = out;
        el.spacer.style.height = (rows.length * ROW_H) + "px";
        var total = SWUnits.store.units.length;
        el.shown.textContent = rows.length === total
            ? SW._("{n} units", { n: SW.fmt.integer(total) })
            : SW._("{shown} of {n} units", { shown: SW.fmt.integer(rows.length), n: SW.fmt.integer(total) });
        listeners.forEach(function (fn) { fn(rows); });
        render();
    }

    function cell(cls, text) {
        var s = document.createElement("span");
        s.className = cls;
        s.textContent = text;
        return s;
    }

    function rowNode() {
        var div = document.createElement("div");
        div.className = "cx-row";
        div.setAttribute("role", "option");
        ["c-seal", "c-transit", "c-plate", "c-carrier", "c-route", "c-state", "c-age"].forEach(function (c) {
            div.appendChild(cell(c, ""));
        });
        el.list.appendChild(div);
        return div;
    }

    function fill(div, u, i) {
        var now = SWUnits.now();
        div.style.transform = "translateY(" + (i * ROW_H) + "px)";
        div.dataset.sealId = u.id;
        div.dataset.state = u.state;
        div.classList.toggle("selected", u.id === selected);
        div.setAttribute("aria-selected", u.id === selected ? "true" : "false");
        var c = div.children;
        c[0].textContent = u.id;
        c[1].textContent = u.transit || "–";
        c[1].title = u.transit ? SW._("Transit {id}", { id: u.transit }) : "";
        c[2].textContent = u.plate || "–";
        c[3].textContent = u.carrier || "–";
        c[3].title = u.carrier || "";
        c[4].textContent = u.route || "–";
        c[5].textContent = SW.label("state", u.state) + (u.alerts ? " · " + u.alerts : "");
        c[5].className = "c-state st-" + u.state + (u.sev ? " sev-" + u.sev : "");
        c[6].textContent = u.t ? SW.fmt.age((now - u.t) / 1000) : "–";
        div.hidden = false;
    }

    function render() {
        renderPending = false;
        var top = el.list.scrollTop, height = el.list.clientHeight || 600;
        var first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
        var last = Math.min(rows.length, Math.ceil((top + height) / ROW_H) + OVERSCAN);
        var need = last - first;
        while (pool.length < need) { pool.push(rowNode()); }
        for (var k = 0; k < pool.length; k++) {
            if (k < need) { fill(pool[k], rows[first + k], first + k); } else { pool[k].hidden = true; }
        }
    }

    function scheduleRender() {
        if (renderPending) { return; }
        renderPending = true;
        global.requestAnimationFrame(render);
    }

    function setOptions(select, kind, values) {
        var sig = values.join("\u0001");
        if (optionSets[kind] === sig) { return; }
        optionSets[kind] = sig;
        var keep = select.value;
        while (select.options.length > 1) { select.remove(1); }
        values.forEach(function (v) {
            var o = document.createElement("option");
            o.value = v;
            o.textContent = v;
            select.appendChild(o);
        });
        select.value = values.indexOf(keep) >= 0 ? keep : "";
    }

    function refreshOptions() {
        var routes = new Set(), carriers = new Set();
        SWUnits.store.units.forEach(function (u) {
            if (u.route) { routes.add(u.route); }
            if (u.carrier) { carriers.add(u.carrier); }
        });
        SW.config.routes.forEach(function (r) { routes.add(r.code); });
        setOptions(el.route, "route", Array.from(routes).sort());
        setOptions(el.carrier, "carrier", Array.from(carriers).sort());
    }

    function syncLegend() {
        document.querySelectorAll(".cx-legend-item").forEach(function (b) {
            var on = filter.states.has(b.dataset.state);
            b.setAttribute("aria-pressed", on ? "true" : "false");
            b.classList.toggle("active", on);
        });
        el.state.value = filter.states.size === 1 ? Array.from(filter.states)[0] : "";
    }

    // Units without per-unit alert types: ask the alerts API which seals have an open alert of the type.
    function loadAlertSeals(type) {
        alertSeals = null;
        if (!type) { refilter(); return; }
        var sample = SWUnits.store.units[0];
        if (sample && sample.types) { refilter(); return; }
        SW.api("/api/alerts?status=unresolved&limit=5000&alert_type=" + encodeURIComponent(type)).then(function (list) {
            if (filter.alert !== type) { return; }
            alertSeals = new Set(list.map(function (a) { return a.seal_id; }));
            refilter();
        }).catch(function () { alertSeals = new Set(); refilter(); });
    }

    function init(onSelect) {
        el.list = document.getElementById("cx-list");
        el.spacer = document.getElementById("cx-list-spacer");
        el.shown = document.getElementById("cx-shown");
        el.q = document.getElementById("cx-q");
        el.state = document.getElementById("cx-f-state");
        el.route = document.getElementById("cx-f-route");
        el.carrier = document.getElementById("cx-f-carrier");
        el.alert = document.getElementById("cx-f-alert");
        var typing = null;
        el.q.addEventListener("input", function () {
            global.clearTimeout(typing);
            typing = global.setTimeout(function () {
                filter.q = el.q.value.trim().toLowerCase();
                el.list.scrollTop = 0;
                refilter();
            }, 150);
        });
        el.state.addEventListener("change", function () {
            filter.states = new Set(el.state.value ? [el.state.value] : []);
            syncLegend();
            refilter();
        });
        el.route.addEventListener("change", function () { filter.route = el.route.value; refilter(); });
        el.carrier.addEventListener("change", function () { filter.carrier = el.carrier.value; refilter(); });
        el.alert.addEventListener("change", function () { filter.alert = el.alert.value; loadAlertSeals(filter.alert); });
        document.querySelectorAll(".cx-legend-item").forEach(function (b) {
            b.addEventListener("click", function () {
                var s = b.dataset.state;
                if (filter.states.has(s)) { filter.states.delete(s); } else { filter.states.add(s); }
                syncLegend();
                refilter();
            });
        });
        el.list.addEventListener("scroll", scheduleRender, { passive: true });
        el.list.addEventListener("click", function (e) {
            var row = e.target.closest(".cx-row");
            if (row && row.dataset.sealId) { onSelect(row.dataset.sealId); }
        });
        el.list.addEventListener("keydown", function (e) {
            if (e.key !== "ArrowDown" && e.key !== "ArrowUp") { return; }
            e.preventDefault();
            var i = rows.findIndex(function (u) { return u.id === selected; });
            var next = rows[Math.max(0, Math.min(rows.length - 1, i + (e.key === "ArrowDown" ? 1 : -1)))];
            if (next) { onSelect(next.id); }
        });
        global.addEventListener("resize", scheduleRender);
        // Ages grow by themselves: refresh the visible rows every few seconds.
        global.setInterval(scheduleRender, 5000);
    }

    var optionsTimer = null;

    function update(change) {
        if (change.structural) {
            // The route and carrier choices can wait for a task of their own.
            if (!optionsTimer) {
                optionsTimer = global.setTimeout(function () { optionsTimer = null; refreshOptions(); }, 0);
            }
            refilter();
        } else {
            scheduleRender();
            listeners.forEach(function (fn) { fn(rows); });
        }
    }

    function setSelected(id) {
        selected = id;
        var i = rows.findIndex(function (u) { return u.id === id; });
        if (i >= 0) {
            var top = i * ROW_H;
            if (top < el.list.scrollTop || top > el.list.scrollTop + el.list.clientHeight - ROW_H) {
                el.list.scrollTop = Math.max(0, top - el.list.clientHeight / 2);
            }
        }
        scheduleRender();
    }

    global.SWList = {
        init: init,
        update: update,
        setSelected: setSelected,
        onRows: function (fn) { listeners.push(fn); },
        rows: function () { return rows; },
        filter: filter
    };
})(window);
