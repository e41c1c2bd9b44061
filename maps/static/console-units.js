/* The console's units: every monitored seal as one small object, kept current by polling
 * /api/console/units with the delta cursor (only rows changed since the last answer come back).
 * Rows are columnar ("fields" + arrays) to keep 100,000 units small on the wire. Servers without
 * the console API answer 404 there: the store then reads /api/seals (positions and states only). */
(function (global) {
    "use strict";

    var cfg = SW.config;
    var RANK = {};
    cfg.states.forEach(function (s, i) { RANK[s] = i; });
    // Units in these states (and any with a critical alert) are drawn above the others and clustered apart.
    var TROUBLE = RANK.overdue;
    var SEVERITY = { critical: 0, warning: 1, info: 2 };

    var store = {
        units: [],              // dense array of unit objects (removal swaps with the last)
        byId: new Map(),
        counts: {},             // true totals per state, from the server when it sends them
        total: 0,
        cursor: null,
        skewMs: 0,              // server clock minus browser clock
        legacy: false,          // true when the server has no /api/console/units
        loaded: false,
        lastUpdate: null
    };
    var listeners = [];

    function now() { return Date.now() + store.skewMs; }

    function parseTime(value) {
        if (value === null || value === undefined) { return null; }
        var ms = typeof value === "number" ? value * 1000 : Date.parse(value);
        return isNaN(ms) ? null : ms;
    }

    function searchKey(u) {
        return [u.id, u.transit, u.plate, u.carrier].join("\u0001").toLowerCase();
    }

    function isTrouble(u) { return u.rank <= TROUBLE || u.sev === "critical"; }

    // Apply one record; returns 0 (nothing changed), 1 (moved or refreshed) or 2 (what the list sorts or filters on changed).
    function upsert(rec) {
        var u = store.byId.get(rec.id);
        if (!u) {
            u = rec;
            u.index = store.units.length;
            u.rank = RANK[u.state] === undefined ? cfg.states.length : RANK[u.state];
            u.key = searchKey(u);
            store.units.push(u);
            store.byId.set(u.id, u);
            return 2;
        }
        var structural = u.state !== rec.state || u.alerts !== rec.alerts || u.sev !== rec.sev ||
            u.plate !== rec.plate || u.carrier !== rec.carrier || u.route !== rec.route ||
            String(u.types) !== String(rec.types);
        var moved = u.lat !== rec.lat || u.lon !== rec.lon || u.t !== rec.t || u.battery !== rec.battery;
        Object.keys(rec).forEach(function (k) { u[k] = rec[k]; });
        if (structural) {
            u.rank = RANK[u.state] === undefined ? cfg.states.length : RANK[u.state];
            u.key = searchKey(u);
            return 2;
        }
        return moved ? 1 : 0;
    }

    function remove(id) {
        var u = store.byId.get(id);
        if (!u) { return false; }
        var last = store.units.pop();
        if (last !== u) { store.units[u.index] = last; last.index = u.index; }
        store.byId.delete(id);
        return true;
    }

    function recordFromRow(row, f) {
        function v(name) { return f[name] === undefined ? null : row[f[name]]; }
        var open = v("open_alerts"), types = v("alert_types");
        if (Array.isArray(open)) { types = types || open; open = open.length; }
        return {
            id: String(v("seal_id")),
            transit: v("transit_id") || "",
            plate: v("plate") || "",
            carrier: v("carrier") || "",
            route: v("route_code") || "",
            lat: v("lat"),
            lon: v("lon"),
            t: parseTime(v("t")),
            state: v("state"),
            battery: v("battery"),
            alerts: open || 0,
            sev: v("worst_severity") || null,
            types: Array.isArray(types) ? types : null
        };
    }

    function computeCounts() {
        var counts = {};
        store.units.forEach(function (u) { counts[u.state] = (counts[u.state] || 0) + 1; });
        return counts;
    }

    // Rows are applied CHUNK at a time, each slice in its own task, so a full load of 100,000
    // units never blocks the page for long.
    var CHUNK = 5000;

    function applyRows(rows, f, change, seen) {
        return new Promise(function (resolve) {
            function step(from) {
                var end = Math.min(rows.length, from + CHUNK);
                for (var i = from; i < end; i++) {
                    var rec = recordFromRow(rows[i], f);
                    if (seen) { seen.add(rec.id); }
                    var kind = upsert(rec);
                    if (kind === 2) { change.structural = true; }
                    if (kind) { change.moved.push(store.byId.get(rec.id)); }
                }
                if (end < rows.length) { global.setTimeout(function () { step(end); }, 0); } else { resolve(); }
            }
            step(0);
        });
    }

    function applyConsole(body) {
        var f = {};
        body.fields.forEach(function (name, i) { f[name] = i; });
        var change = { full: !!body.full, structural: !!body.full, moved: [] };
        var seen = body.full ? new Set() : null;
        return applyRows(body.rows, f, change, seen).then(function () {
            if (seen) {
                store.units.slice().forEach(function (u) { if (!seen.has(u.id)) { remove(u.id); } });
            }
            (body.gone || []).forEach(function (id) { if (remove(String(id))) { change.structural = true; } });
            store.cursor = body.cursor || null;
            if (body.now) { store.skewMs = Date.parse(body.now) - Date.now() || 0; }
            store.counts = body.counts || computeCounts();
            return change;
        });
    }

    // The older API: a GeoJSON FeatureCollection of every seal, each poll in full.
    function applySeals(fc) {
        var change = { full: true, structural: true, moved: [] };
        var seen = new Set();
        fc.features.forEach(function (ft) {
            var p = ft.properties, c = ft.geometry.coordinates;
            var rec = {
                id: String(p.seal_id), transit: p.transit_id || "", plate: p.plate || "", carrier: p.carrier || "",
                route: p.route_code || "", lat: c[1], lon: c[0], t: parseTime(p.t), state: p.status,
                battery: p.battery_pct, alerts: 0, sev: null, types: null
            };
            seen.add(rec.id);
            upsert(rec);
        });
        store.units.slice().forEach(function (u) { if (!seen.has(u.id)) { remove(u.id); } });
        store.counts = computeCounts();
        return change;
    }

    function emit(change) {
        store.total = store.units.length;
        store.loaded = true;
        store.lastUpdate = Date.now();
        listeners.forEach(function (fn) { fn(change); });
    }

    function fetchOnce() {
        if (store.legacy) {
            return SW.api("/api/seals").then(applySeals);
        }
        var url = "/api/console/units" + (store.cursor ? "?cursor=" + encodeURIComponent(store.cursor) : "");
        return SW.api(url).then(applyConsole, function (err) {
            if (err.status === 404 || err.status === 405) {
                store.legacy = true;
                return SW.api("/api/seals").then(applySeals);
            }
            throw err;
        });
    }

    var errorListeners = [];

    function poll() {
        fetchOnce().then(function (change) {
            // The list and the map work in the next task, not in the one that applied the rows.
            return new Promise(function (resolve) {
                global.setTimeout(function () { emit(change); resolve(); }, 0);
            });
        }).catch(function (err) {
            errorListeners.forEach(function (fn) { fn(err); });
        }).then(function () {
            global.setTimeout(poll, cfg.pollMs || 3000);
        });
    }

    global.SWUnits = {
        store: store,
        RANK: RANK,
        SEVERITY: SEVERITY,
        isTrouble: isTrouble,
        now: now,
        onChange: function (fn) { listeners.push(fn); },
        onError: function (fn) { errorListeners.push(fn); },
        start: poll,
        get: function (id) { return store.byId.get(id); }
    };
})(window);
