"""Where and why a truck may stand: authorized stop areas and the congestion signal.

:class:`StopPolicy` answers the two questions the stop rule asks about a stopped seal, without I/O
(the service refreshes what it knows before judging a batch):

* ``area_at(lat, lon)``: the authorized stop area (rest area, fuel station, border-queue area, or a
  customs office / border checkpoint zone) the seal stands in, with how long a stop there is
  tolerated (``None``: no limit);
* ``jam_at(seal_id, lat, lon, t)``: whether at least ``stop_jam_min_seals`` seals, this one
  included, are slow or stopped within ``stop_jam_radius_m`` of it, each with a fix within
  ``stop_jam_window_s`` of ``t`` (or last seen standing there and silent since, for up to
  ``stop_jam_silent_s``: a jam in a dead zone). Several trucks standing on the same stretch of
  road at once is a jam or a closed road, not a conspiracy; trucks parked in a rest area, a fuel
  station or an office beside it are not. The signal comes from every monitored seal's latest fix
  (``seal_latest``), so it spans ingest workers; a stop judged from a backlog is judged against
  the slow fixes stored for its own time (``refresh_slow_between``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from alerts.settings import AlertSettings
from alerts.store import AnyConn, fetch_tuples
from geofence.model import AUTHORIZED_STOP_KINDS
from geofence.projection import point_to_metric, to_metric

FloatArray = npt.NDArray[np.float64]
OFFICE_KINDS = frozenset({"customs_office", "border_checkpoint"})

_AREAS_SQL = "SELECT code, kind, purpose, max_stop_s, geometry FROM zones WHERE active AND kind = ANY(%s) ORDER BY code"
# Slow fixes of every seal in an interval: the congestion a backlog's stops stood in.
_SLOW_BETWEEN_SQL = """
SELECT seal_id, extract(epoch FROM t)::float8, lat, lon FROM fixes
WHERE t >= to_timestamp(%s) AND t <= to_timestamp(%s) AND speed_kmh < %s
"""
_SLOW_SQL = """
SELECT seal_id, extract(epoch FROM t)::float8, lat, lon FROM seal_latest
WHERE t >= to_timestamp(%s) AND speed_kmh < %s
"""


@dataclass(frozen=True, slots=True)
class StopArea:
    code: str
    kind: str
    purpose: str | None
    max_stop_s: float | None  # None: no limit

    @property
    def office(self) -> bool:
        return self.kind in OFFICE_KINDS


class StopPolicy:
    """Authorized stop areas and a snapshot of slow seals; see the module docstring."""

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self._areas: list[StopArea] = []
        self._tree: shapely.STRtree | None = None
        self._areas_at = -1e9
        self._slow_ids: npt.NDArray[np.str_] = np.empty(0, dtype=str)
        self._slow_t: FloatArray = np.empty(0)
        self._slow_x: FloatArray = np.empty(0)
        self._slow_y: FloatArray = np.empty(0)
        self._latest = True  # the snapshot holds each seal's latest fix (not every slow fix)

    # ---- areas ----

    def set_areas(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (code, kind, purpose, max_stop_s, GeoJSON polygon), lon/lat."""
        areas, polygons = [], []
        for code, kind, purpose, max_stop_s, geometry in rows:
            ring = np.asarray(geometry["coordinates"][0], dtype=float)
            x, y = to_metric(ring[:, 0], ring[:, 1])
            polygons.append(shapely.Polygon(np.column_stack([x, y])))
            areas.append(StopArea(code, kind, purpose, None if max_stop_s is None else float(max_stop_s)))
        self._areas = areas
        self._tree = shapely.STRtree(polygons) if polygons else None

    def area_at(self, lat: float, lon: float) -> StopArea | None:
        """The area the point lies in; an office or checkpoint first, then the most generous area."""
        if self._tree is None:
            return None
        hits = self._tree.query(shapely.Point(point_to_metric(lon, lat)), predicate="intersects").tolist()
        if not hits:
            return None
        found = [self._areas[i] for i in hits]
        best: StopArea = min(found, key=lambda a: (not a.office, a.max_stop_s is not None, -(a.max_stop_s or 0.0)))
        return best

    async def refresh_areas(self, conn: AnyConn, ttl_s: float = 60.0) -> None:
        """Reload the areas when older than ``ttl_s`` (an edit reaches the rules within a minute)."""
        if time.monotonic() - self._areas_at < ttl_s:
            return
        self.set_areas(await fetch_tuples(conn, _AREAS_SQL, (sorted(AUTHORIZED_STOP_KINDS),)))
        self._areas_at = time.monotonic()

    # ---- congestion ----

    def set_slow(self, rows: list[tuple[str, float, float, float]]) -> None:
        """Rows of (seal_id, t epoch, lat, lon) of seals whose latest fix is slow. Those standing
        where trucks stop on purpose (a rest area, a fuel station, an office or checkpoint) are
        left out: parked off the road, however many, they are no congestion for a truck standing
        on the road beside them. A border-queue area is the road itself: its seals count."""
        ids = np.asarray([r[0] for r in rows], dtype=str)
        t = np.asarray([r[1] for r in rows], dtype=float)
        lat = np.asarray([r[2] for r in rows], dtype=float)
        lon = np.asarray([r[3] for r in rows], dtype=float)
        x, y = to_metric(lon, lat) if rows else (np.empty(0), np.empty(0))
        if self._tree is not None and rows:
            point, area = self._tree.query(shapely.points(x, y), predicate="intersects")
            parked = np.asarray([self._areas[i].purpose != "border_queue" for i in area.tolist()], dtype=bool)
            keep = np.ones(len(rows), dtype=bool)
            keep[point[parked]] = False
            ids, t, x, y = ids[keep], t[keep], x[keep], y[keep]
        self._slow_ids, self._slow_t, self._slow_x, self._slow_y = ids, t, x, y

    async def refresh_slow(self, conn: AnyConn, since: float) -> None:
        """Reload the seals whose latest fix, at or after ``since`` (epoch), is slow. Read for every
        batch that has a stop to judge (a jam forms and clears within minutes); one scan of
        ``seal_latest``, a row per monitored seal."""
        rows = await fetch_tuples(conn, _SLOW_SQL, (since, self.settings.stop_jam_speed_kmh))
        self.set_slow([(r[0], r[1], r[2], r[3]) for r in rows])
        self._latest = True

    async def refresh_slow_between(self, conn: AnyConn, since: float, until: float) -> None:
        """Load every slow fix between ``since`` and ``until`` (epoch): a stop judged from a
        backlog finds the jam it stood in, not today's traffic."""
        rows = await fetch_tuples(conn, _SLOW_BETWEEN_SQL, (since, until, self.settings.stop_jam_speed_kmh))
        self.set_slow([(r[0], r[1], r[2], r[3]) for r in rows])
        self._latest = False

    def jam_at(self, seal_id: str, lat: float, lon: float, t: float) -> int:
        """How many seals stand in a jam around this one (0: no jam)."""
        s = self.settings
        if not self._slow_t.size:
            return 0
        x, y = point_to_metric(lon, lat)
        dt = t - self._slow_t
        recent = np.abs(dt) <= s.stop_jam_window_s
        if self._latest:  # last seen standing here and silent since (a dead zone): still standing
            recent |= (dt >= 0) & (dt <= s.stop_jam_silent_s)
        near = (
            ((self._slow_x - x) ** 2 + (self._slow_y - y) ** 2 <= s.stop_jam_radius_m**2)
            & recent
            & (self._slow_ids != seal_id)
        )
        count = int(np.unique(self._slow_ids[near]).shape[0]) + 1
        return count if count >= s.stop_jam_min_seals else 0
