"""Property test: the vectorized engine emits exactly what the per-fix reference emits.

Hypothesis builds random routes inside Azerbaijan, corridor widths, small circular and star-shaped
zones near the route, and for several seals tracks that wander along the route with random speeds,
gaps, deviations, stops, GPS glitches (jumps), repeated timestamps and missing speeds. The fixes are
shuffled and cut into batches (so some arrive late and are stale), with occasional no-op refreshes
of transits and zones between batches, and an unknown seal mixed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

import geofence.corridors
import geofence.zones
from geofence import Engine, EngineConfig, TransitSpec, ZoneSpec
from geofence.projection import point_to_lonlat, point_to_metric
from sealwatch.fixes import FixBatch
from tests.geofence.reference import ReferenceEngine, assert_same_observations, make_batch

ZONE_KINDS = ["customs_office", "border_checkpoint", "authorized_stop", "restricted_area"]


@dataclass(frozen=True)
class Scenario:
    config: EngineConfig
    transits: list[TransitSpec]
    zones: list[ZoneSpec]
    batches: list[FixBatch]
    refresh_after: frozenset[int]


def _offset_point(line: LineString, along: float, offset: float) -> tuple[float, float]:
    along = min(max(along, 0.0), line.length)
    p = line.interpolate(along)
    q = line.interpolate(min(along + 1.0, line.length))
    r = line.interpolate(max(along - 1.0, 0.0))
    dx, dy = q.x - r.x, q.y - r.y
    norm = math.hypot(dx, dy) or 1.0
    return p.x - dy / norm * offset, p.y + dx / norm * offset


@st.composite
def route_lines(draw: st.DrawFn) -> LineString:
    lon = draw(st.floats(45.3, 49.3))
    lat = draw(st.floats(38.8, 41.4))
    x, y = point_to_metric(lon, lat)
    pts = [(x, y)]
    heading = draw(st.floats(0, 2 * math.pi))
    for _ in range(draw(st.integers(1, 5))):
        heading += draw(st.floats(-1.2, 1.2))
        step = draw(st.floats(3_000, 30_000))
        x, y = x + step * math.cos(heading), y + step * math.sin(heading)
        pts.append((x, y))
    return LineString(pts)


@st.composite
def zones_near(draw: st.DrawFn, line: LineString, prefix: str) -> list[ZoneSpec]:
    zones = []
    for k in range(draw(st.integers(0, 5))):
        cx, cy = _offset_point(line, draw(st.floats(0, 1)) * line.length, draw(st.floats(-3_000, 3_000)))
        kind = draw(st.sampled_from(ZONE_KINDS))
        code = f"{prefix}{k}"
        if draw(st.booleans()):
            lon, lat = point_to_lonlat(cx, cy)
            zones.append(ZoneSpec.circle(code, kind, lon, lat, draw(st.floats(80, 2_500))))  # type: ignore[arg-type]
        else:  # star-shaped, possibly concave: segments can cross it more than once
            n = draw(st.integers(3, 7))
            # Angular gaps below pi keep the ring simple (star-shaped around the centre).
            base = draw(st.floats(0, 2 * math.pi))
            angles = [base + (j + draw(st.floats(-0.4, 0.4))) * 2 * math.pi / n for j in range(n)]
            radii = draw(st.lists(st.floats(100, 2_500), min_size=n, max_size=n))
            ring = [
                point_to_lonlat(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)
            ]
            zones.append(ZoneSpec(code, kind, ring))  # type: ignore[arg-type]
    return zones


@st.composite
def track(draw: st.DrawFn, line: LineString, width: float, t0: float) -> list[tuple[float, float, float, float]]:
    """(t, lat, lon, speed) fixes: along-route motion with gaps, stops, deviations and glitches."""
    out = []
    t = t0
    along = draw(st.floats(0, line.length / 2))
    offset = draw(st.floats(-width, width))
    for _ in range(draw(st.integers(1, 45))):
        mode = draw(st.sampled_from(["drive", "drive", "drive", "stop", "deviate", "glitch", "gap", "same_t", "moved"]))
        dt = draw(st.floats(5, 120))
        speed = draw(st.floats(20, 110))
        if mode == "stop":
            speed = draw(st.floats(0, 2.5))
            dt = draw(st.floats(30, 200))
        elif mode == "moved":  # silent while it drove on, standing again when heard from
            speed = draw(st.floats(0, 2.5))
            dt = draw(st.floats(300, 3_000))
            along += draw(st.floats(300, 5_000))
        elif mode == "gap":
            dt = draw(st.floats(300, 3_000))
        elif mode == "same_t":
            dt = 0.0
        elif mode == "deviate":
            offset = draw(st.sampled_from([-1, 1])) * width * draw(st.floats(0.8, 3.0))
        if mode in ("drive", "gap") and draw(st.booleans()):
            offset = draw(st.floats(-width * 1.2, width * 1.2))
        t += dt
        along += speed / 3.6 * dt
        x, y = _offset_point(line, along, offset)
        if mode == "glitch":
            ang = draw(st.floats(0, 2 * math.pi))
            x, y = x + 40_000 * math.cos(ang), y + 40_000 * math.sin(ang)
        lon, lat = point_to_lonlat(x, y)
        reported = speed if draw(st.integers(0, 3)) else math.nan
        out.append((t, lat, lon, reported))
    return out


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    config = EngineConfig(
        exit_min_fixes=draw(st.integers(1, 4)),
        exit_min_seconds=draw(st.sampled_from([0.0, 30.0, 60.0, 120.0])),
        reentry_min_fixes=draw(st.integers(1, 3)),
        stop_speed_kmh=3.0,
        stop_min_seconds=draw(st.sampled_from([60.0, 180.0, 300.0])),
        jump_max_kmh=draw(st.sampled_from([150.0, 250.0])),
        jump_min_m=draw(st.sampled_from([0.0, 250.0])),
        crossing_max_gap_s=draw(st.sampled_from([600.0, 1e12])),
    )
    t0 = 1_750_000_000.0
    transits, zones, rows = [], [], []
    for k in range(draw(st.integers(1, 4))):
        line = draw(route_lines())
        width = draw(st.floats(300, 3_000))
        zs = draw(zones_near(line, f"Z{k}-"))
        zones += zs
        dest = draw(st.sampled_from([None, *[z.code for z in zs]]))
        route = [point_to_lonlat(x, y) for x, y in line.coords]
        seal = f"S{k}"
        # Sometimes a width per segment (a corridor wider in towns), around the drawn width.
        n_seg = len(route) - 1
        per_segment = draw(st.none() | st.lists(st.floats(width * 0.5, width * 1.5), min_size=n_seg, max_size=n_seg))
        deadline = draw(st.sampled_from([None, t0 + 3_600]))
        widths = None if per_segment is None else tuple(per_segment)
        transits.append(TransitSpec(f"T{k}", seal, route, width, dest, deadline, segment_widths_m=widths))
        rows += [(seal, *fix) for fix in draw(track(line, width, t0 + draw(st.floats(0, 100))))]
    rows.append(("UNKNOWN", t0 + 1, 40.0, 47.0, 50.0))
    perm = draw(st.permutations(range(len(rows))))
    # Mostly time order, sometimes fully shuffled: late fixes across batches become stale.
    ordered = sorted(range(len(rows)), key=lambda i: rows[i][1]) if draw(st.booleans()) else perm
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(rows) - 1)), max_size=8))))
    batches = []
    for lo, hi in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        part = [rows[i] for i in ordered[lo:hi]]
        if part:
            batches.append(make_batch([r[0] for r in part], [r[1] for r in part], [r[2] for r in part],
                                      [r[3] for r in part], [r[4] for r in part]))  # fmt: skip
    refresh = frozenset(draw(st.lists(st.integers(0, len(batches)), max_size=2)))
    return Scenario(config, transits, zones, batches, refresh)


# Derandomized by the test profile (tests/conftest.py); the thresholds' exact values: test_boundaries.py.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_engine_matches_reference(sc: Scenario) -> None:
    engine, ref = Engine(sc.config), ReferenceEngine(sc.config)
    for e in (engine, ref):
        e.set_transits(sc.transits)
        e.set_zones(sc.zones)
    for i, batch in enumerate(sc.batches):
        assert_same_observations(engine.process(batch), ref.process(batch))
        if i in sc.refresh_after:  # a no-op refresh (other slot order) must not change anything
            engine.set_transits(list(reversed(sc.transits)))
            engine.set_zones(list(reversed(sc.zones)))
            ref.set_transits(sc.transits)
            ref.set_zones(sc.zones)
    s, r = engine.stats, ref.stats
    assert (s.unknown, s.duplicate, s.stale, s.jumps, s.processed) == (
        r.unknown,
        r.duplicate,
        r.stale,
        r.jumps,
        r.processed,
    )
    assert s.unknown >= 1


def test_generated_scenarios_exercise_every_observation_kind() -> None:
    """Guards the generator: across a fixed sample, every kind shows up (else equivalence is vacuous)."""
    seen: set[str] = set()

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(scenarios())
    def collect(sc: Scenario) -> None:
        engine = Engine(sc.config)
        engine.set_transits(sc.transits)
        engine.set_zones(sc.zones)
        for batch in sc.batches:
            seen.update(o.kind for o in engine.process(batch))

    collect()
    kinds = {"corridor_exit", "corridor_reentry", "zone_enter", "zone_exit", "checkpoint_enter", "stop_start",
             "stop_end", "jump", "arrival"}  # fmt: skip
    assert kinds <= seen, kinds - seen


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_fallback_paths_match_reference(sc: Scenario) -> None:
    """The STRtree pairing (many zones) and GEOS distance (long routes) paths agree with the reference too."""
    with (
        patch.object(geofence.zones, "BROADCAST_MAX_ZONES", 0),
        patch.object(geofence.corridors, "MAX_DENSE_SEGMENTS", 1),
    ):
        engine, ref = Engine(sc.config), ReferenceEngine(sc.config)
        for e in (engine, ref):
            e.set_transits(sc.transits)
            e.set_zones(sc.zones)
        long_routes = {(tuple(tr.route), tr.widths) for tr in sc.transits if len(tr.route) > 2}
        assert engine._corridors.sparse_route.sum() == len(long_routes)  # those took the GEOS path
        for batch in sc.batches:
            assert_same_observations(engine.process(batch), ref.process(batch))
