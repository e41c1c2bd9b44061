"""Per-fix reference implementation of the geofence engine: the executable specification.

A plain loop over each batch's fixes with shapely per-point predicates and one small state object per
seal. Slow on purpose and written to be read; the vectorized engine must produce the same
observations. The rules, in the order they apply to one seal's fixes:

1. A batch is sorted by (seal, t), ties in input order. A fix with the same t as the previous
   one of its seal in the batch is a duplicate (dropped); a fix with t <= the seal's last accepted
   t is stale (dropped). Fixes of seals without a transit, or with non-finite lat/lon, are dropped.
2. Jump: implied speed = metric distance / dt from the seal's last *plausible* fix. Above
   ``jump_max_kmh`` the fix is reported as ``jump`` and then ignored by every other check; it does
   advance the seal's last accepted t but not its last plausible fix. The first fix has no implied
   speed and is plausible.
3. Corridor: out = no route segment lies within that segment's width of the fix (one width for
   the whole route unless the transit gives one per segment); the distance in evidence is the
   distance from the route line. Exit when inside-state and the current run
   of out fixes has >= exit_min_fixes fixes and spans >= exit_min_seconds; re-entry when
   outside-state and the current run of in fixes has >= reentry_min_fixes fixes.
4. Zones: membership is polygon.intersects(point). Enter/exit on membership change between
   consecutive plausible fixes. A segment between consecutive plausible fixes that intersects a
   zone neither endpoint is in gives enter and exit at the first/last point where it meets the
   zone's ring (the smallest/largest segment/edge intersection parameter; times and positions
   interpolated linearly along the segment; evidence crossed_between), when the two fixes are at
   most ``crossing_max_gap_s`` apart. Border checkpoints also
   give checkpoint_enter/checkpoint_exit copies.
5. Stops: speed = reported, else implied (none for the first fix → moving). Slow = speed <
   stop_speed_kmh. stop_start at the fix where the current slow run spans >= stop_min_seconds;
   stop_end at the first non-slow fix after it. A slow fix more than stop_moved_m from the previous
   plausible fix ends the stop (stop_end there) and begins a new slow run.
6. Arrival: first plausible fix inside the destination zone, once per transit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon

from geofence.model import AUTHORIZED_STOP_KINDS, EngineConfig, Observation, ObservationKind, TransitSpec, ZoneSpec
from geofence.projection import point_to_lonlat, point_to_metric, ring_to_metric
from sealwatch.fixes import FixBatch


def _edge_fraction(
    ax: float, ay: float, dx: float, dy: float, vx: float, vy: float, wx: float, wy: float
) -> tuple[bool, float, float]:
    """Where segment A + f·D meets ring edge V→W: a crossing at f, or a collinear overlap [f0, f1]."""
    ex, ey = wx - vx, wy - vy
    px, py = vx - ax, vy - ay
    denom = dx * ey - dy * ex
    unum = px * dy - py * dx
    if denom != 0:
        f = (px * ey - py * ex) / denom
        u = unum / denom
        return (0 <= f <= 1 and 0 <= u <= 1), f, f
    if unum != 0:
        return False, 0.0, 0.0
    len2 = dx * dx + dy * dy
    f1 = (px * dx + py * dy) / len2
    f2 = ((wx - ax) * dx + (wy - ay) * dy) / len2
    lo, hi = min(f1, f2), max(f1, f2)
    return (hi >= 0 and lo <= 1), min(max(lo, 0.0), 1.0), min(max(hi, 0.0), 1.0)


@dataclass
class _Seal:
    transit: TransitSpec
    line: LineString
    last_t: float = -math.inf
    prev: tuple[float, float, float, float, float] | None = None  # x, y, t, lat, lon of last plausible fix
    zones: frozenset[str] = frozenset()
    outside: bool = False
    out_count: int = 0
    out_since: float = math.nan
    in_count: int = 0
    in_since: float = math.nan
    slow_since: float | None = None
    stopped: bool = False
    stop_started_at: float = math.nan
    stop_authorized: bool = False
    arrived: bool = False


@dataclass
class ReferenceStats:
    unknown: int = 0
    invalid: int = 0
    duplicate: int = 0
    stale: int = 0
    jumps: int = 0
    processed: int = 0


@dataclass
class ReferenceEngine:
    config: EngineConfig = field(default_factory=EngineConfig)
    seals: dict[str, _Seal] = field(default_factory=dict)
    zones: dict[str, tuple[ZoneSpec, Polygon]] = field(default_factory=dict)
    stats: ReferenceStats = field(default_factory=ReferenceStats)

    def set_transits(self, transits: list[TransitSpec]) -> None:
        new: dict[str, _Seal] = {}
        for tr in transits:
            if tr.seal_id in new:
                raise ValueError(f"seal {tr.seal_id} has two transits")
            old = self.seals.get(tr.seal_id)
            line = LineString(ring_to_metric(tr.route))
            if old is not None and old.transit.transit_id == tr.transit_id:
                old.transit, old.line = tr, line
                new[tr.seal_id] = old
            else:
                new[tr.seal_id] = _Seal(transit=tr, line=line)
        self.seals = new

    def set_zones(self, zones: list[ZoneSpec]) -> None:
        self.zones = {z.code: (z, Polygon(ring_to_metric(z.polygon))) for z in zones}
        for seal in self.seals.values():
            seal.zones = frozenset(c for c in seal.zones if c in self.zones)

    def process(self, batch: FixBatch) -> list[Observation]:
        rows = []
        for i in range(len(batch)):
            sid = str(batch.seal_id[i])
            lat, lon = float(batch.lat[i]), float(batch.lon[i])
            if sid not in self.seals:
                self.stats.unknown += 1
            elif not (math.isfinite(lat) and math.isfinite(lon)):
                self.stats.invalid += 1
            else:
                rows.append((sid, float(batch.t[i]), i))
        rows.sort()
        out: list[Observation] = []
        prev_key: tuple[str, float] | None = None
        for sid, t, i in rows:
            if prev_key == (sid, t):
                self.stats.duplicate += 1
                continue
            prev_key = (sid, t)
            seal = self.seals[sid]
            if t <= seal.last_t:
                self.stats.stale += 1
                continue
            seal.last_t = t
            self.stats.processed += 1
            self._fix(seal, t, float(batch.lat[i]), float(batch.lon[i]), float(batch.speed_kmh[i]), out)
        out.sort(key=Observation.sort_key)
        return out

    def _emit(
        self,
        out: list[Observation],
        seal: _Seal,
        kind: ObservationKind,
        t: float,
        lat: float,
        lon: float,
        zone: str = "",
        **evidence: Any,
    ) -> None:
        tr = seal.transit
        out.append(Observation(tr.seal_id, tr.transit_id, kind, t, lat, lon, zone, dict(evidence)))

    def _zone_event(
        self, out: list[Observation], seal: _Seal, enter: bool, code: str, t: float, lat: float, lon: float, **ev: Any
    ) -> None:
        kind = self.zones[code][0].kind
        self._emit(out, seal, "zone_enter" if enter else "zone_exit", t, lat, lon, code, zone_kind=kind, **ev)
        if kind == "border_checkpoint":
            self._emit(
                out, seal, "checkpoint_enter" if enter else "checkpoint_exit", t, lat, lon, code, zone_kind=kind, **ev
            )

    def _fix(self, seal: _Seal, t: float, lat: float, lon: float, speed: float, out: list[Observation]) -> None:
        cfg = self.config
        x, y = point_to_metric(lon, lat)
        implied = math.nan
        if seal.prev is not None:
            px, py, pt, plat, plon = seal.prev
            dist = math.sqrt((x - px) * (x - px) + (y - py) * (y - py))
            implied = dist / (t - pt) * 3.6
            if implied > cfg.jump_max_kmh and dist > cfg.jump_min_m:
                self.stats.jumps += 1
                self._emit(
                    out, seal, "jump", t, lat, lon, implied_speed_kmh=implied, distance_m=dist,
                    prev_t=pt, prev_lat=plat, prev_lon=plon,
                )  # fmt: skip
                return

        # Corridor hysteresis.
        pt_geom = Point(x, y)
        d = seal.line.distance(pt_geom)
        widths = seal.transit.segment_widths_m
        if widths is None:
            is_out = d > seal.transit.corridor_width_m
        else:
            coords = list(seal.line.coords)
            is_out = all(LineString(coords[i : i + 2]).distance(pt_geom) > w for i, w in enumerate(widths))
        if is_out:
            seal.out_count += 1
            if seal.out_count == 1:
                seal.out_since = t
            seal.in_count, seal.in_since = 0, math.nan
        else:
            seal.in_count += 1
            if seal.in_count == 1:
                seal.in_since = t
            seal.out_count, seal.out_since = 0, math.nan
        if (
            not seal.outside
            and is_out
            and seal.out_count >= cfg.exit_min_fixes
            and t - seal.out_since >= cfg.exit_min_seconds
        ):
            seal.outside = True
            self._emit(
                out, seal, "corridor_exit", t, lat, lon, first_out_t=seal.out_since, distance_m=d, fixes=seal.out_count
            )
        elif seal.outside and not is_out and seal.in_count >= cfg.reentry_min_fixes:
            seal.outside = False
            self._emit(
                out, seal, "corridor_reentry", t, lat, lon, first_in_t=seal.in_since, distance_m=d, fixes=seal.in_count
            )

        # Zones: point membership, then crossings between the fixes.
        current = frozenset(code for code, (_, poly) in self.zones.items() if poly.intersects(pt_geom))
        for code in sorted(current - seal.zones):
            self._zone_event(out, seal, True, code, t, lat, lon)
        for code in sorted(seal.zones - current):
            self._zone_event(out, seal, False, code, t, lat, lon)
        if seal.prev is not None and t - seal.prev[2] <= self.config.crossing_max_gap_s:
            px, py, pt, _, _ = seal.prev
            seg = LineString([(px, py), (x, y)])
            dx, dy = x - px, y - py
            len2 = dx * dx + dy * dy
            for code, (_, poly) in self.zones.items():
                if code in current or code in seal.zones or len2 == 0 or not seg.intersects(poly):
                    continue
                ring = shapely.get_coordinates(poly.exterior).tolist()
                hits = [_edge_fraction(px, py, dx, dy, *v, *w) for v, w in pairwise(ring)]
                firsts = [h[1] for h in hits if h[0]]
                lasts = [h[2] for h in hits if h[0]]
                if not firsts:
                    continue
                for enter, f in ((True, min(firsts)), (False, max(lasts))):
                    ilon, ilat = point_to_lonlat(px + f * dx, py + f * dy)
                    self._zone_event(out, seal, enter, code, pt + f * (t - pt), ilat, ilon, crossed_between=True)

        # Stops.
        v = speed if math.isfinite(speed) else implied
        slow = v < cfg.stop_speed_kmh  # NaN compares False: unknown speed is moving
        moved = slow and seal.prev is not None and math.hypot(x - seal.prev[0], y - seal.prev[1]) > cfg.stop_moved_m
        if slow:
            if seal.slow_since is None or moved:
                seal.slow_since = t
        else:
            seal.slow_since = None
        if seal.stopped and moved:
            seal.stopped = False
            self._emit(
                out, seal, "stop_end", t, lat, lon, started_at=seal.stop_started_at,
                duration_s=t - seal.stop_started_at, authorized=seal.stop_authorized,
            )  # fmt: skip
        if not seal.stopped and seal.slow_since is not None and t - seal.slow_since >= cfg.stop_min_seconds:
            authorized = any(self.zones[c][0].kind in AUTHORIZED_STOP_KINDS for c in current)
            seal.stopped, seal.stop_started_at, seal.stop_authorized = True, seal.slow_since, authorized
            self._emit(out, seal, "stop_start", t, lat, lon, started_at=seal.slow_since, authorized=authorized)
        elif seal.stopped and not slow:
            seal.stopped = False
            self._emit(
                out, seal, "stop_end", t, lat, lon, started_at=seal.stop_started_at,
                duration_s=t - seal.stop_started_at, authorized=seal.stop_authorized,
            )  # fmt: skip

        # Arrival.
        dest = seal.transit.destination_zone
        if not seal.arrived and dest is not None and dest in current:
            seal.arrived = True
            self._emit(out, seal, "arrival", t, lat, lon, dest, deadline=seal.transit.deadline,
                       late=seal.transit.deadline is not None and t > seal.transit.deadline)  # fmt: skip

        seal.prev = (x, y, t, lat, lon)
        seal.zones = current


# ----------------------------------------------------------------------------- test utilities


def make_batch(
    seal_ids: list[str],
    t: list[float],
    lat: list[float],
    lon: list[float],
    speed: list[float] | None = None,
) -> FixBatch:
    """A FixBatch from plain lists (speed NaN when absent)."""
    n = len(seal_ids)
    return FixBatch(
        seal_id=np.array(seal_ids, dtype=object).reshape(n),
        seq=np.arange(n, dtype=np.int64),
        t=np.asarray(t, dtype=np.float64).reshape(n),
        lat=np.asarray(lat, dtype=np.float64).reshape(n),
        lon=np.asarray(lon, dtype=np.float64).reshape(n),
        speed_kmh=np.full(n, np.nan) if speed is None else np.asarray(speed, dtype=np.float64).reshape(n),
        battery_pct=np.full(n, 90.0),
        state=np.zeros(n, dtype=np.int8),
    )


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)  # GEOS vs numpy distance rounding
    return bool(a == b) and type(a) is type(b)


def assert_same_observations(got: list[Observation], want: list[Observation]) -> None:
    """Kinds, seals, transits, zones and times exactly; positions and float evidence within rounding."""
    key = [(o.seal_id, o.transit_id, o.kind, o.zone_code, o.t) for o in got]
    want_key = [(o.seal_id, o.transit_id, o.kind, o.zone_code, o.t) for o in want]
    assert key == want_key
    for g, w in zip(got, want, strict=True):
        assert math.isclose(g.lat, w.lat, abs_tol=1e-9) and math.isclose(g.lon, w.lon, abs_tol=1e-9), (g, w)
        assert g.evidence.keys() == w.evidence.keys(), (g, w)
        for k in g.evidence:
            assert _close(g.evidence[k], w.evidence[k]), (k, g, w)
