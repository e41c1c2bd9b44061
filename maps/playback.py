"""Playback page of one transit: its track replayed over time on the corridor, with zones and the
observations and alerts the engine raised along the way.

Same offline rule as the live map (``maps.live``): Leaflet and the TimeDimension plugin that
folium's ``TimestampedGeoJson`` uses (leaflet-timedimension, iso8601-js-period, moment, the
Glyphicons font of its controls) are vendored from npm under ``maps/static/vendor`` and served
from ``/static``; nothing is loaded from a CDN.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

import folium
from branca.element import Element, Figure, MacroElement
from folium.plugins import TimestampedGeoJson
from folium.template import Template

from maps.live import VENDOR_URL, OfflineMap, assert_offline
from sealwatch.logging import get_logger

log = get_logger(__name__)

MAX_PLAYBACK_POINTS = 4000  # more vertices only slow the browser; the track API stays exact
ZONE_COLORS = {
    "customs_office": "#212529",
    "border_checkpoint": "#8d6e63",
    "authorized_stop": "#2a9d8f",
    "restricted_area": "#d62828",
}
OBSERVATION_COLORS = {
    "corridor_exit": "#d62828",
    "corridor_reentry": "#2a9d8f",
    "checkpoint_enter": "#8d6e63",
    "checkpoint_exit": "#8d6e63",
    "stop_start": "#f4a261",
    "stop_end": "#e9c46a",
    "jump": "#9b5de5",
    "arrival": "#1d3557",
}
TRACK_COLOR = "#0077b6"


class OfflineTimestampedGeoJson(TimestampedGeoJson):
    """folium's TimestampedGeoJson with its JS/CSS from /static (no jQuery: the plugin does not use it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self.default_js = [
            ("iso8601", f"{VENDOR_URL}/iso8601-js-period/iso8601.js"),
            ("leaflet.timedimension", f"{VENDOR_URL}/leaflet-timedimension/leaflet.timedimension.min.js"),
            ("moment", f"{VENDOR_URL}/moment/moment.min.js"),
        ]
        self.default_css = [
            (
                "leaflet.timedimension_css",
                f"{VENDOR_URL}/leaflet-timedimension/leaflet.timedimension.control.css",
            )
        ]


class TextPopup(MacroElement):
    """A popup bound to its parent marker, its HTML handed to Leaflet as a string. folium's Popup builds
    its content with jQuery (``$(...)``), which this offline page does not load."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.bindPopup({{ this.content|tojson }}, {maxWidth: 320});
        {% endmacro %}
        """
    )

    def __init__(self, content: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "TextPopup"
        self.content = content


def _downsample(n: int, limit: int) -> list[int]:
    """Indices keeping at most ``limit`` points, always the first and the last."""
    if n <= limit:
        return list(range(n))
    step = (n - 1) / (limit - 1)
    return sorted({round(i * step) for i in range(limit)})


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def timestamped_features(track: dict[str, Any]) -> list[dict[str, Any]]:
    """One timestamped LineString per seal (what TimestampedGeoJson animates)."""
    features: list[dict[str, Any]] = []
    for feature in track["features"]:
        props = feature["properties"]
        geometry = feature["geometry"]
        if geometry is None:
            continue
        keep = _downsample(len(props["times"]), MAX_PLAYBACK_POINTS)
        coords = geometry["coordinates"]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(coords[i]) for i in keep]},
                "properties": {
                    "times": [_ms(props["times"][i]) for i in keep],
                    "style": {"color": TRACK_COLOR, "weight": 4, "opacity": 0.9},
                    "tooltip": f"seal {props['seal_id']}",
                },
            }
        )
    return features


def _popup(rows: list[tuple[str, Any]]) -> str:
    return "<br>".join(f"<b>{html.escape(k)}</b>: {html.escape(str(v))}" for k, v in rows if v not in (None, ""))


def build_playback_map(detail: dict[str, Any], track: dict[str, Any], zones: list[dict[str, Any]]) -> folium.Map:
    """The playback map as a folium object (``detail`` from store.history.transit_detail)."""
    transit_id = detail["transit_id"]
    route = [(lat, lon) for lon, lat in detail["route_line"]["coordinates"]]
    m = OfflineMap(location=route[0], zoom_start=8, tiles=None, control_scale=True)
    figure = m.get_root()
    assert isinstance(figure, Figure)
    figure.header.add_child(Element(f"<title>sealwatch · playback {html.escape(transit_id)}</title>"), name="title")

    corridor = folium.FeatureGroup(name="Corridor").add_to(m)
    folium.GeoJson(
        detail["corridor"],
        style_function=lambda _f: {"color": "#6c757d", "weight": 1, "fillColor": "#adb5bd", "fillOpacity": 0.25},
        tooltip=f"corridor ±{detail['corridor_width_m']:g} m",
    ).add_to(corridor)
    folium.PolyLine(route, color="#495057", weight=2, dash_array="6 4", tooltip="declared route").add_to(corridor)  # type: ignore[no-untyped-call]

    zone_group = folium.FeatureGroup(name="Zones").add_to(m)
    for z in zones:
        color = ZONE_COLORS.get(z["kind"], "#6c757d")
        folium.GeoJson(
            z["geometry"],
            style_function=lambda _f, c=color: {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.15},
            tooltip=f"{z['name']} ({z['kind']})",
        ).add_to(zone_group)

    obs_group = folium.FeatureGroup(name="Observations").add_to(m)
    for o in detail["observations"]:
        marker = folium.CircleMarker(
            (o["lat"], o["lon"]),
            radius=6,
            color="#ffffff",
            weight=1.5,
            fill=True,
            fill_color=OBSERVATION_COLORS.get(o["kind"], "#6c757d"),
            fill_opacity=0.95,
            tooltip=f"{o['kind']} {o['t']:%Y-%m-%d %H:%M:%S}",
        ).add_to(obs_group)
        TextPopup(_popup([("kind", o["kind"]), ("time", o["t"]), ("zone", o["zone_code"])])).add_to(marker)

    if detail.get("alerts"):
        alert_group = folium.FeatureGroup(name="Alerts").add_to(m)
        for entry in detail["alerts"]:
            a = entry["alert"]
            if a.get("lat") is None or a.get("lon") is None:
                continue
            pin = folium.Marker((a["lat"], a["lon"]), tooltip=f"alert {a['type']} ({a['severity']}, {a['status']})")
            pin.add_to(alert_group)
            details = [
                ("type", a["type"]),
                ("severity", a["severity"]),
                ("status", a["status"]),
                ("first", a["first_t"]),
                ("resolved", a.get("resolved_at")),
                ("outcome", a.get("outcome")),
            ]
            TextPopup(_popup(details)).add_to(pin)

    features = timestamped_features(track)
    if features:
        span_s = (
            max(f["properties"]["times"][-1] for f in features) - min(f["properties"]["times"][0] for f in features)
        ) / 1000
        OfflineTimestampedGeoJson(
            {"type": "FeatureCollection", "features": features},
            period="PT1M" if span_s <= 12 * 3600 else "PT5M",
            add_last_point=True,
            auto_play=False,
            loop=False,
            max_speed=60,
            transition_time=100,
            date_options="YYYY-MM-DD HH:mm:ss",
        ).add_to(m)
        lats = [c[1] for f in features for c in f["geometry"]["coordinates"]] + [p[0] for p in route]
        lons = [c[0] for f in features for c in f["geometry"]["coordinates"]] + [p[1] for p in route]
    else:
        lats = [p[0] for p in route]
        lons = [p[1] for p in route]
    m.fit_bounds([(min(lats), min(lons)), (max(lats), max(lons))])
    folium.LayerControl(position="topright", collapsed=False).add_to(m)
    return m


def render_playback(detail: dict[str, Any], track: dict[str, Any], zones: list[dict[str, Any]]) -> str:
    """The complete playback page as HTML; raises if anything would be loaded from the internet."""
    page: str = build_playback_map(detail, track, zones).get_root().render()
    assert_offline(page)
    log.debug("playback rendered", transit_id=detail["transit_id"], bytes=len(page))
    return page
