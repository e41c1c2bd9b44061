"""Positions along a route polyline, by distance travelled, in metres on the WGS 84 ellipsoid.

Segments between towns are tens of kilometres long, so interpolating lon/lat linearly inside
a segment (with the segment's geodesic length) is well within GPS noise; it keeps a step of
the simulator free of per-fix projection calls.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field

from pyproj import Geod

from sealwatch.geography import ROUTES, route_lonlat

_GEOD = Geod(ellps="WGS84")
M_PER_DEG_LAT = 111_320.0


@dataclass(frozen=True, slots=True)
class Position:
    lon: float
    lat: float
    heading_deg: float


@dataclass(frozen=True)
class RoutePath:
    """A route's vertices with cumulative geodesic distance, for ``at(distance_m)``."""

    code: str
    vertices: tuple[tuple[float, float], ...]
    cumulative_m: tuple[float, ...] = field(repr=False)
    headings_deg: tuple[float, ...] = field(repr=False)

    @classmethod
    def of_route(cls, code: str) -> RoutePath:
        return cls.of_vertices(code, route_lonlat(ROUTES[code]))

    @classmethod
    def of_vertices(cls, code: str, vertices: list[tuple[float, float]]) -> RoutePath:
        if len(vertices) < 2:
            raise ValueError("a route needs at least two vertices")
        cumulative = [0.0]
        headings = []
        for (lon1, lat1), (lon2, lat2) in itertools.pairwise(vertices):
            azimuth, _, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
            cumulative.append(cumulative[-1] + dist)
            headings.append(azimuth % 360.0)
        return cls(code, tuple(vertices), tuple(cumulative), tuple(headings))

    @property
    def length_m(self) -> float:
        return self.cumulative_m[-1]

    def at(self, distance_m: float) -> Position:
        d = min(max(distance_m, 0.0), self.length_m)
        i = min(bisect.bisect_right(self.cumulative_m, d) - 1, len(self.vertices) - 2)
        seg = self.cumulative_m[i + 1] - self.cumulative_m[i]
        f = 0.0 if seg == 0 else (d - self.cumulative_m[i]) / seg
        (lon1, lat1), (lon2, lat2) = self.vertices[i], self.vertices[i + 1]
        return Position(lon1 + f * (lon2 - lon1), lat1 + f * (lat2 - lat1), self.headings_deg[i])


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """Shift a point by metres east and north (local tangent plane; fine for a few kilometres)."""
    return (
        lon + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
        lat + north_m / M_PER_DEG_LAT,
    )


def lateral(heading_deg: float, right_m: float) -> tuple[float, float]:
    """East/north metres of a shift ``right_m`` to the right of travel direction ``heading_deg``."""
    h = math.radians(heading_deg + 90.0)
    return right_m * math.sin(h), right_m * math.cos(h)
