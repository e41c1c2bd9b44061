/* Small SVG charts for the workspaces (no chart library): horizontal bars, one group per row,
 * one bar per series, each labelled with its value; optional marks (a limit) per row. */
(function (global) {
    "use strict";

    var NS = "http://www.w3.org/2000/svg";

    function el(name, attrs, text) {
        var node = document.createElementNS(NS, name);
        Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
        if (text !== undefined) { node.textContent = text; }
        return node;
    }

    // rows: [{label, values: {series: number|null}, mark: number|null}];
    // series: [{key, name, color}]; format: value -> text.
    function bars(container, rows, series, options) {
        var opts = options || {};
        var format = opts.format || function (v) { return SW.fmt.number(v); };
        var labelW = opts.labelWidth || 190, barH = 14, gap = 3, groupGap = 10, width = opts.width || 720;
        var plotW = width - labelW - 70;
        var max = 0;
        rows.forEach(function (r) {
            series.forEach(function (s) { max = Math.max(max, r.values[s.key] || 0); });
            if (r.mark) { max = Math.max(max, r.mark); }
        });
        if (opts.max) { max = opts.max; }
        max = max || 1;
        var groupH = series.length * (barH + gap) + groupGap;
        var height = rows.length * groupH + 34;
        // Drawn in a fixed coordinate system and scaled to the container's width.
        var svg = el("svg", { width: "100%", viewBox: "0 0 " + width + " " + height, role: "img",
            preserveAspectRatio: "xMinYMin meet", style: "max-width:" + width + "px" });
        if (opts.title) { svg.appendChild(el("title", {}, opts.title)); }
        rows.forEach(function (r, i) {
            var y0 = i * groupH + 4;
            svg.appendChild(el("text", { x: labelW - 6, y: y0 + groupH / 2, "text-anchor": "end", "dominant-baseline": "middle" },
                r.label.length > 30 ? r.label.slice(0, 29) + "…" : r.label));
            series.forEach(function (s, j) {
                var v = r.values[s.key], y = y0 + j * (barH + gap);
                if (v === null || v === undefined) { return; }
                var w = Math.max(1, plotW * v / max);
                var bar = el("rect", { x: labelW, y: y, width: w, height: barH, fill: s.color, "data-series": s.key });
                bar.appendChild(el("title", {}, r.label + " · " + s.name + ": " + format(v)));
                svg.appendChild(bar);
                svg.appendChild(el("text", { x: labelW + w + 4, y: y + barH / 2, "dominant-baseline": "middle" }, format(v)));
            });
            if (r.mark) {
                var x = labelW + plotW * r.mark / max;
                svg.appendChild(el("line", { x1: x, x2: x, y1: y0 - 2, y2: y0 + groupH - groupGap + 2,
                    stroke: "#c62828", "stroke-width": 2, "stroke-dasharray": "4 2" }));
            }
        });
        var legendY = rows.length * groupH + 20, x = labelW;
        series.concat(opts.markName ? [{ name: opts.markName, color: "#c62828", mark: true }] : []).forEach(function (s) {
            svg.appendChild(el("rect", { x: x, y: legendY - 9, width: 12, height: s.mark ? 3 : 10, fill: s.color }));
            svg.appendChild(el("text", { x: x + 16, y: legendY }, s.name));
            x += 30 + s.name.length * 7;
        });
        container.textContent = "";
        container.appendChild(svg);
        return svg;
    }

    global.SWChart = { bars: bars };
})(window);
