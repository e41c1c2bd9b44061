/* Editing a line's vertices on a Leaflet map: drag a vertex to move it, click the square between
 * two vertices to insert one there, right-click a vertex (or select it and call removeSelected) to
 * delete it. Handles exist only for the vertices in view (a GPS-derived route has thousands), and
 * none while too many are in view: the editor asks to zoom in instead. */
(function (global) {
    "use strict";

    var MAX_HANDLES = 400;

    function VertexEditor(map, latlngs, options) {
        this.map = map;
        this.options = options || {};
        this.line = L.polyline([], { color: "#1c7ed6", weight: 3 }).addTo(map);
        this.handles = L.layerGroup().addTo(map);
        this.selected = null;
        this.render = this.render.bind(this);
        map.on("moveend", this.render);
        this.setLatLngs(latlngs);
    }

    VertexEditor.prototype.setLatLngs = function (latlngs) {
        this.coords = latlngs.map(function (p) { return L.latLng(p[0], p[1]); });
        this.selected = null;
        this.line.setLatLngs(this.coords);
        this.render();
    };

    VertexEditor.prototype.lonlat = function () {
        return this.coords.map(function (p) { return [Math.round(p.lng * 1e6) / 1e6, Math.round(p.lat * 1e6) / 1e6]; });
    };

    VertexEditor.prototype.changed = function () {
        this.line.setLatLngs(this.coords);
        if (this.options.onChange) { this.options.onChange(this); }
    };

    VertexEditor.prototype.select = function (i) {
        this.selected = i;
        if (this.options.onSelect) { this.options.onSelect(i); }
        this.render();
    };

    VertexEditor.prototype.remove = function (i) {
        if (this.coords.length <= 2) {
            if (this.options.onRefuse) { this.options.onRefuse(); }
            return;
        }
        this.coords.splice(i, 1);
        this.selected = null;
        if (this.options.onSelect) { this.options.onSelect(null); }
        this.changed();
        this.render();
    };

    VertexEditor.prototype.removeSelected = function () {
        if (this.selected !== null) { this.remove(this.selected); }
    };

    VertexEditor.prototype.insert = function (i, latlng) {
        this.coords.splice(i, 0, latlng);
        this.changed();
        this.select(i);
    };

    VertexEditor.prototype.render = function () {
        if (this.dragging) { return; }  // the handle being dragged must outlive a view change
        var self = this, map = this.map, view = map.getBounds().pad(0.2), coords = this.coords;
        this.handles.clearLayers();
        var shown = [];
        coords.forEach(function (p, i) { if (view.contains(p)) { shown.push(i); } });
        var tooMany = shown.length > MAX_HANDLES;
        if (this.options.onCrowded) { this.options.onCrowded(tooMany); }
        if (tooMany) { return; }
        shown.forEach(function (i) {
            var handle = L.marker(coords[i], {
                draggable: true, keyboard: false, zIndexOffset: 1000,
                icon: L.divIcon({ className: "re-vertex" + (i === self.selected ? " selected" : ""), iconSize: [14, 14] })
            });
            handle.on("dragstart", function () { self.dragging = true; });
            handle.on("drag", function (e) { coords[i] = e.target.getLatLng(); self.line.setLatLngs(coords); });
            handle.on("dragend", function (e) {
                self.dragging = false;
                coords[i] = e.target.getLatLng();
                self.changed();
                self.render();
            });
            handle.on("click", function () { self.select(i); });
            handle.on("contextmenu", function (e) { L.DomEvent.preventDefault(e.originalEvent); self.remove(i); });
            handle.addTo(self.handles);
            handle.getElement().setAttribute("data-vertex", i);
        });
        for (var i = 0; i + 1 < coords.length; i++) {
            if (!view.contains(coords[i]) && !view.contains(coords[i + 1])) { continue; }
            var a = map.project(coords[i]), b = map.project(coords[i + 1]);
            if (a.distanceTo(b) < 30) { continue; }  // no room for a handle between them at this zoom
            var mid = L.latLng((coords[i].lat + coords[i + 1].lat) / 2, (coords[i].lng + coords[i + 1].lng) / 2);
            var m = L.marker(mid, { keyboard: false, icon: L.divIcon({ className: "re-mid", iconSize: [10, 10] }) });
            m.on("click", (function (at, where) { return function () { self.insert(at, where); }; })(i + 1, mid));
            m.addTo(self.handles);
            m.getElement().setAttribute("data-between", i);
        }
    };

    VertexEditor.prototype.destroy = function () {
        this.map.off("moveend", this.render);
        this.map.removeLayer(this.handles);
        this.map.removeLayer(this.line);
    };

    global.VertexEditor = VertexEditor;
})(window);
