/* sealwatch page core: translated strings, labels, times in the display time zone, API calls.
 * Every page's sw-config block (rendered by the server) holds the locale, the display time zone,
 * the JS modules' messages and the labels of alert types, states, roles and outcomes. */
(function (global) {
    "use strict";

    var node = document.getElementById("sw-config");
    var config = node ? JSON.parse(node.textContent) : { locale: "en", tz: "UTC", tzLabel: "UTC", messages: {}, labels: {} };
    var ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

    // gettext for JS: the msgid is the English text; "{name}" placeholders are filled from args.
    function gettext(msgid, args) {
        var text = config.messages[msgid] || msgid;
        if (args) {
            text = text.replace(/\{(\w+)\}/g, function (m, k) { return k in args ? String(args[k]) : m; });
        }
        return text;
    }

    function label(kind, value) {
        var names = config.labels[kind] || {};
        return names[value] || String(value).replace(/_/g, " ");
    }

    // Field data and operator text: never insert unescaped.
    function esc(value) {
        return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
            return ENTITIES[c];
        });
    }

    var timeFormat = new Intl.DateTimeFormat(config.locale, {
        timeZone: config.tz, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
    });
    var clockFormat = new Intl.DateTimeFormat(config.locale, {
        timeZone: config.tz, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23"
    });
    var numberFormat = new Intl.NumberFormat(config.locale, { maximumFractionDigits: 1 });
    var integerFormat = new Intl.NumberFormat(config.locale, { maximumFractionDigits: 0 });

    function toDate(value) {
        if (value === null || value === undefined || value === "") { return null; }
        var d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
        return isNaN(d.getTime()) ? null : d;
    }

    var fmt = {
        // A time (ISO string or epoch seconds) in the display time zone.
        time: function (value) { var d = toDate(value); return d ? timeFormat.format(d) : "–"; },
        // A time that stands in a sentence, with the zone's label: "02.12.2026, 05:11:45 UTC+04:00 (Asia/Baku)".
        zoned: function (value) { var d = toDate(value); return d ? timeFormat.format(d) + " " + config.tzLabel : "–"; },
        clock: function (value) { var d = toDate(value); return d ? clockFormat.format(d) : "–"; },
        number: function (n) { return n === null || n === undefined ? "–" : numberFormat.format(n); },
        integer: function (n) { return n === null || n === undefined ? "–" : integerFormat.format(n); },
        // Metric units only.
        km: function (metres) {
            if (metres === null || metres === undefined) { return "–"; }
            return metres < 1000 ? gettext("{n} m", { n: integerFormat.format(metres) })
                : gettext("{n} km", { n: numberFormat.format(metres / 1000) });
        },
        speed: function (kmh) { return kmh === null || kmh === undefined ? "–" : gettext("{n} km/h", { n: integerFormat.format(kmh) }); },
        percent: function (p) { return p === null || p === undefined ? "–" : integerFormat.format(p) + " %"; },
        // An age in seconds: "45 s", "12 min", "3 h 05 min", "2 d 4 h".
        age: function (seconds) {
            if (seconds === null || seconds === undefined || isNaN(seconds)) { return "–"; }
            var s = Math.max(0, Math.round(seconds));
            if (s < 60) { return gettext("{n} s", { n: s }); }
            var m = Math.floor(s / 60);
            if (m < 60) { return gettext("{n} min", { n: m }); }
            var h = Math.floor(m / 60);
            if (h < 48) { return gettext("{h} h {m} min", { h: h, m: ("0" + (m % 60)).slice(-2) }); }
            return gettext("{d} d {h} h", { d: Math.floor(h / 24), h: h % 24 });
        }
    };

    // The session ended (logout elsewhere, expiry): go to the login form, then come back here.
    function loginAgain() {
        var here = global.location.pathname + global.location.search;
        global.location.assign("/login?ended=1&next=" + encodeURIComponent(here));
    }

    // A JSON API call with the session cookie; 401 sends the browser to the login form.
    function api(url, options) {
        var opts = options || {};
        var init = { method: opts.method || "GET", headers: { "Accept": "application/json" }, credentials: "same-origin" };
        if (opts.body !== undefined) {
            init.headers["Content-Type"] = "application/json";
            init.body = JSON.stringify(opts.body);
        }
        return fetch(url, init).then(function (r) {
            if (r.status === 401) { loginAgain(); throw new Error(gettext("Your session has ended.")); }
            if (!r.ok) {
                return r.json().catch(function () { return {}; }).then(function (body) {
                    var err = new Error(errorText(r.status));
                    err.status = r.status;
                    err.detail = body && body.detail;
                    throw err;
                });
            }
            return opts.raw ? r : r.json();
        });
    }

    function errorText(status) {
        if (status === 403) { return gettext("Your role may not do this."); }
        if (status === 404) { return gettext("Not found: it may have been removed."); }
        if (status === 409) { return gettext("Someone else changed this first. The view is updated."); }
        if (status === 422) { return gettext("The request was not valid."); }
        if (status === 429) { return gettext("Too many requests. Try again later."); }
        if (status >= 500) { return gettext("The server had a problem. Try again."); }
        return gettext("Request failed ({status}).", { status: status });
    }

    global.SW = {
        config: config,
        _: gettext,
        label: label,
        esc: esc,
        fmt: fmt,
        api: api,
        errorText: errorText,
        loginAgain: loginAgain,
        may: function (action) { return !!(config.permissions && config.permissions[action]); }
    };
})(window);
