"""The operations control center's live map: seal positions over a vector basemap of Azerbaijan.

The page works offline (control rooms often have no internet): folium normally links Leaflet,
jQuery, Bootstrap and plugins from CDNs; here every asset comes from ``/static`` (``maps/static``,
vendored from npm), and base tiles are optional (``settings.tile_url``). Without tiles the map
still reads as a map: the open-data basemap in ``maps/static/basemap`` (Caspian, countries, borders,
towns; see ``maps.basemap_extract``) lies beneath the routes, customs offices and border checkpoints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import Realtime
from folium.template import Template
from folium.utilities import JsCode

from maps.seal_status import STATUS_COLORS, STATUS_LABELS
from sealwatch.config import Settings
from sealwatch.geography import ROUTES, PlaceKind, offices, route_lonlat
from sealwatch.logging import get_logger

log = get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/static"
VENDOR_URL = f"{STATIC_URL}/vendor"
BASEMAP_MANIFEST_URL = f"{STATIC_URL}/basemap/manifest.json"

CENTER = (40.4, 47.5)
ZOOM = 7
SEALS_URL = "/api/seals"
REFRESH_MS = 3000

ROUTE_COLOR = "#8d99ae"
PLACE_COLORS: dict[PlaceKind, str] = {
    # Kept apart from the status palette so a place is never read as a seal.
    PlaceKind.CUSTOMS_OFFICE: "#212529",
    PlaceKind.BORDER_CHECKPOINT: "#8d6e63",
}
PLACE_LABELS: dict[PlaceKind, str] = {
    PlaceKind.CUSTOMS_OFFICE: "Customs offices",
    PlaceKind.BORDER_CHECKPOINT: "Border checkpoints",
}

# A layer hook adds its own FeatureGroups (or anything else) to the map before the layer control is built.
MapLayer = Callable[[folium.Map], object]


class OfflineMap(folium.Map):
    """folium.Map that loads only Leaflet, from /static (folium's default also pulls jQuery, Bootstrap,
    Font Awesome and awesome-markers from CDNs; nothing on this page uses them)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Instance lists: folium's add_js_link mutates these in place, so never share them.
        self.default_js = [("leaflet", f"{VENDOR_URL}/leaflet/leaflet.js")]
        self.default_css = [("leaflet_css", f"{VENDOR_URL}/leaflet/leaflet.css")]


class OfflineRealtime(Realtime):
    """folium's Realtime plugin with leaflet-realtime served from /static."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_js = [("Leaflet_Realtime_js", f"{VENDOR_URL}/leaflet-realtime/leaflet-realtime.min.js")]


class LivePanel(JSCSSMixin, MacroElement):
    """Legend of seal statuses (with live counts) and basemap symbols, plus the page's own JS and CSS."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div class="sealwatch-legend" id="sealwatch-legend">
            <h4>Seals</h4>
            <ul>
            {% for status, label, color in this.statuses %}
                <li class="legend-status legend-{{ status }}">
                    <span class="swatch" style="background: {{ color }}"></span>{{ label }}
                    <span class="count" data-status-count="{{ status }}">0</span>
                </li>
            {% endfor %}
            </ul>
            <hr>
            <ul>
                <li><span class="swatch swatch-line" style="border-top-color: {{ this.route_color }}"></span>Routes</li>
            {% for label, color in this.places %}
                <li><span class="swatch" style="background: {{ color }}"></span>{{ label }}</li>
            {% endfor %}
            </ul>
            <div id="sealwatch-updated">waiting for data</div>
        </div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
            {{ this.realtime.get_name() }}.on("update", function (e) { SealwatchLive.updateCounts(e.features); });
            {{ this.realtime.get_name() }}.on("error", SealwatchLive.showError);
        {% endmacro %}
        """
    )

    def __init__(self, realtime: Realtime) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "LivePanel"
        self.default_js = [("sealwatch_live_js", f"{STATIC_URL}/live.js")]
        self.default_css = [("sealwatch_live_css", f"{STATIC_URL}/live.css")]
        self.realtime = realtime
        self.statuses = [(s, STATUS_LABELS[s], c) for s, c in STATUS_COLORS.items()]
        self.route_color = ROUTE_COLOR
        self.places = [(PLACE_LABELS[k], c) for k, c in PLACE_COLORS.items()]


class OpenDataBasemap(JSCSSMixin, MacroElement):
    """The GeoJSON basemap layers, loaded by ``basemap.js`` from the manifest into a pane beneath everything."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            SealwatchBasemap.add({{ this._parent.get_name() }}, {{ this.manifest_url|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, manifest_url: str = BASEMAP_MANIFEST_URL) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "OpenDataBasemap"
        self.default_js = [("sealwatch_basemap_js", f"{STATIC_URL}/basemap.js")]
        self.manifest_url = manifest_url


# Each seal is a circle marker whose CSS class names its status, so the DOM says what the map shows.
POINT_TO_LAYER = JsCode(
    """
    function (feature, latlng) {
        var p = feature.properties;
        return L.circleMarker(latlng, {
            radius: 8,
            color: "#1b1b1b",
            weight: 1.5,
            fillColor: p.color,
            fillOpacity: 0.9,
            className: "seal-marker seal-" + p.status
        }).bindTooltip(SealwatchLive.tooltipHtml(p)).bindPopup(SealwatchLive.popupHtml(p));
    }
    """
)
GET_FEATURE_ID = JsCode("function (feature) { return feature.properties.seal_id; }")
UPDATE_FEATURE = JsCode("function (feature, oldLayer) { return SealwatchLive.updateFeature(feature, oldLayer); }")

# Any asset loaded from another host (absolute or protocol-relative) breaks the offline guarantee.
_REMOTE_ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.IGNORECASE)


def add_basemap(m: folium.Map) -> None:
    """Routes, customs offices and border checkpoints: enough geography to read the map without tiles."""
    routes = folium.FeatureGroup(name="Routes").add_to(m)
    for route in ROUTES.values():
        folium.PolyLine(  # type: ignore[no-untyped-call]
            [(lat, lon) for lon, lat in route_lonlat(route)],
            color=ROUTE_COLOR,
            weight=4,
            opacity=0.8,
            tooltip=f"{route.name} (limit {route.time_limit_h:g} h)",
        ).add_to(routes)

    groups = {kind: folium.FeatureGroup(name=label).add_to(m) for kind, label in PLACE_LABELS.items()}
    for place in offices():
        folium.CircleMarker(
            (place.lat, place.lon),
            radius=5,
            color="#ffffff",
            weight=2,
            fill=True,
            fill_color=PLACE_COLORS[place.kind],
            fill_opacity=1.0,
            tooltip=folium.Tooltip(
                place.name, permanent=True, direction="right", sticky=False, class_name="place-label"
            ),
        ).add_to(groups[place.kind])


def add_live_seals(m: folium.Map) -> Realtime:
    """Seal markers refreshed from the API every few seconds; seals that disappear are removed."""
    group = folium.FeatureGroup(name="Seals (live)")
    group.add_to(m)
    realtime = OfflineRealtime(
        SEALS_URL,
        interval=REFRESH_MS,
        get_feature_id=GET_FEATURE_ID,
        update_feature=UPDATE_FEATURE,
        point_to_layer=POINT_TO_LAYER,
        remove_missing=True,
        container=group,
    )
    # The container group is the layer users toggle; the Realtime object itself has no checkbox.
    realtime.control = False
    realtime.add_to(m)
    return realtime


def build_live_map(settings: Settings, layers: Sequence[MapLayer] = ()) -> folium.Map:
    """The live map as a folium object, for callers that want to add to it before rendering."""
    m = OfflineMap(location=CENTER, zoom_start=ZOOM, tiles=None, control_scale=True)
    figure = m.get_root()
    assert isinstance(figure, Figure)
    figure.header.add_child(Element("<title>sealwatch · live seals</title>"), name="title")
    if settings.tile_url:
        folium.TileLayer(tiles=settings.tile_url, attr=settings.tile_attribution, name="Base map").add_to(m)
    OpenDataBasemap().add_to(m)
    add_basemap(m)
    for layer in layers:
        layer(m)
    realtime = add_live_seals(m)
    LivePanel(realtime).add_to(m)
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    return m


def render_live_map(settings: Settings, layers: Sequence[MapLayer] = ()) -> str:
    """The complete operations page as HTML; raises if anything would be loaded from the internet."""
    html: str = build_live_map(settings, layers).get_root().render()
    assert_offline(html)
    log.debug("live map rendered", bytes=len(html), tiles=bool(settings.tile_url))
    return html


def assert_offline(html: str) -> None:
    match = _REMOTE_ASSET.search(html)
    if match is not None:
        raise RuntimeError(f"live map would load a remote asset: {match.group(0)!r}")
