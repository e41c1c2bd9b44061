/* Sealwatch live map helpers: seal popups and tooltips, marker updates, legend counts. */
(function (global) {
    "use strict";

    var ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

    // Seal ids and states come from the field: never insert them into HTML unescaped.
    function esc(value) {
        return String(value).replace(/[&<>"']/g, function (c) { return ENTITIES[c]; });
    }

    function number(value, unit, digits) {
        if (value === null || value === undefined) { return "–"; }
        return Number(value).toFixed(digits) + unit;
    }

    function statusText(status) {
        return String(status).replace(/_/g, " ");
    }

    function utcTime(iso) {
        var d = new Date(iso);
        return isNaN(d.getTime()) ? esc(iso) : d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
    }

    function tooltipHtml(p) {
        return "<b>" + esc(p.seal_id) + "</b> · " + esc(statusText(p.status));
    }

    function popupHtml(p) {
        return '<div class="seal-popup">' +
            "<b>" + esc(p.seal_id) + "</b>" +
            "<br>Status: " + esc(statusText(p.status)) +
            "<br>Seal: " + esc(p.seal_state) +
            "<br>Speed: " + number(p.speed_kmh, " km/h", 0) +
            "<br>Battery: " + number(p.battery_pct, " %", 0) +
            "<br>Last fix: " + utcTime(p.t) +
            "</div>";
    }

    // Same status: move the marker and refresh its text. Changed status: return null so
    // leaflet-realtime draws a new marker with the new colour and CSS class.
    function updateFeature(feature, oldLayer) {
        if (!oldLayer || !oldLayer.feature || oldLayer.feature.properties.status !== feature.properties.status) {
            return null;
        }
        var c = feature.geometry.coordinates;
        oldLayer.setLatLng(L.latLng(c[1], c[0]));
        oldLayer.setTooltipContent(tooltipHtml(feature.properties));
        oldLayer.setPopupContent(popupHtml(feature.properties));
        return oldLayer;
    }

    function updateCounts(features) {
        var counts = {}, total = 0;
        Object.keys(features).forEach(function (id) {
            var s = features[id].properties.status;
            counts[s] = (counts[s] || 0) + 1;
            total += 1;
        });
        document.querySelectorAll("[data-status-count]").forEach(function (el) {
            el.textContent = counts[el.getAttribute("data-status-count")] || 0;
        });
        var stamp = document.getElementById("sealwatch-updated");
        if (stamp) {
            stamp.textContent = total + " seals · updated " + new Date().toISOString().slice(11, 19) + " UTC";
            stamp.classList.remove("sealwatch-error");
        }
    }

    function showError() {
        var stamp = document.getElementById("sealwatch-updated");
        if (stamp) {
            stamp.textContent = "API unreachable, retrying";
            stamp.classList.add("sealwatch-error");
        }
    }

    global.SealwatchLive = {
        esc: esc,
        tooltipHtml: tooltipHtml,
        popupHtml: popupHtml,
        updateFeature: updateFeature,
        updateCounts: updateCounts,
        showError: showError
    };
})(window);
