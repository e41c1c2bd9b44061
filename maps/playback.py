"""Playback of one transit: the data its page replays (``maps/templates/playback.html`` with
``maps/static/playback.js``, Leaflet served from ``/static``).

One JSON document fits the page: the transit's summary, declared route and corridor, each seal's
track thinned to at most :data:`MAX_PLAYBACK_POINTS` vertices (times in epoch milliseconds), the
alerts (with their step history) and observations to mark on the map and on the timeline, and the
zones around the route. The track API stays exact; a replay needs no more points than a screen
shows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import shapely
from shapely.geometry import shape

from sealwatch.logging import get_logger

log = get_logger(__name__)

MAX_PLAYBACK_POINTS = 4000
ZONE_MARGIN_DEG = 0.3  # zones this close to the route's bounding box are drawn


def downsample(n: int, limit: int) -> list[int]:
    """Indices keeping at most ``limit`` of ``n`` points, always the first and the last."""
    if n <= limit:
        return list(range(n))
    step = (n - 1) / (limit - 1)
    return sorted({round(i * step) for i in range(limit)})


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def seal_tracks(track: dict[str, Any]) -> list[dict[str, Any]]:
    """Per seal: ``points`` as [t_ms, lon, lat, speed_kmh, seal_state], thinned."""
    out = []
    for feature in track["features"]:
        props = feature["properties"]
        if feature["geometry"] is not None:
            coords = feature["geometry"]["coordinates"]
        elif props.get("single_point"):
            coords = [props["single_point"]]
        else:
            coords = []
        keep = downsample(len(coords), MAX_PLAYBACK_POINTS)
        points = [
            [_ms(props["times"][i]), coords[i][0], coords[i][1], props["speeds"][i], props["states"][i]] for i in keep
        ]
        out.append({"seal_id": props["seal_id"], "fixes": props["points"], "points": points})
    return out


def nearby_zones(zones: list[dict[str, Any]], route_line: dict[str, Any]) -> list[dict[str, Any]]:
    """Zones within :data:`ZONE_MARGIN_DEG` of the route's bounding box."""
    minx, miny, maxx, maxy = shapely.bounds(shape(route_line))
    area = shapely.box(minx - ZONE_MARGIN_DEG, miny - ZONE_MARGIN_DEG, maxx + ZONE_MARGIN_DEG, maxy + ZONE_MARGIN_DEG)
    return [
        {"code": z["code"], "name": z["name"], "kind": z["kind"], "geometry": z["geometry"]}
        for z in zones
        if shape(z["geometry"]).intersects(area)
    ]


def playback_data(detail: dict[str, Any], track: dict[str, Any], zones: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the playback page shows (``detail`` from ``store.history.transit_detail``)."""
    declaration = detail["declaration"]
    seals = seal_tracks(track)
    times = [p[0] for s in seals for p in s["points"]]
    release = detail["release"]
    alerts = [{**entry["alert"], "history": entry["lifecycle"]} for entry in (detail.get("alerts") or [])]
    data = {
        "transit_id": detail["transit_id"],
        "status": detail["status"],
        "route_code": detail["route_code"],
        "carrier": declaration.get("carrier_name"),
        "plate": declaration.get("vehicle_plate"),
        "channel": release["channel"],
        "released_at": release["released_at"],
        "deadline": release["deadline"],
        "arrived_at": detail["arrival"]["arrived_at"],
        "closed_at": detail["closure"]["closed_at"],
        "office_departure": release["office_departure"],
        "office_destination": release["office_destination"],
        "route_line": detail["route_line"],
        "corridor": detail["corridor"],
        "corridor_width_m": detail["corridor_width_m"],
        "start_ms": min(times) if times else _ms(release["released_at"]),
        "end_ms": max(times) if times else _ms(release["released_at"]),
        "seals": seals,
        "alerts": alerts,
        "observations": detail["observations"],
        "zones": nearby_zones(zones, detail["route_line"]),
    }
    log.debug("playback data", transit_id=detail["transit_id"], points=len(times), alerts=len(alerts))
    return data
