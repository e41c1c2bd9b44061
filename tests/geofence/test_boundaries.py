"""The engine's thresholds at their exact values, where a < for a <= would change the answer.

Random scenarios almost never land on a boundary, so these build it: a fix at exactly the
corridor width from the route (inside: "within the width"), a run of outside fixes that spans
exactly ``exit_min_seconds`` (an exit), and a slow run that spans exactly ``stop_min_seconds``
(a stop). Each is checked against the reference engine and against the expected answer.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings

from geofence import Engine, EngineConfig, TransitSpec
from geofence.corridors import HINT_WINDOW, MAX_DENSE_SEGMENTS, CorridorIndex
from geofence.projection import point_to_lonlat, point_to_metric
from tests.geofence.reference import ReferenceEngine, assert_same_observations, make_batch

WIDTH = 100.0


def _straight(n_segments: int) -> np.ndarray:
    """A route along the x axis, 1000 m per segment, in whole metres (exact arithmetic)."""
    return np.array([[1000.0 * i, 0.0] for i in range(n_segments + 1)])


@pytest.mark.parametrize("n_segments", [10, MAX_DENSE_SEGMENTS + 12], ids=["dense", "sparse"])
@pytest.mark.parametrize("hint", ["at-the-segment", "far-away"])
def test_a_fix_at_exactly_the_width_is_inside_and_just_beyond_is_out(n_segments: int, hint: str) -> None:
    index = CorridorIndex([_straight(n_segments)], [WIDTH])
    segment = n_segments - 1  # the last segment: far from hint 0, beyond the hint window
    assert segment > max(HINT_WINDOW)
    x = np.array([1000.0 * segment + 500.0, 1000.0 * segment + 500.0, 1000.0 * segment + 250.0])
    y = np.array([WIDTH, -WIDTH, WIDTH + 1e-6])
    hints = np.full(3, segment if hint == "at-the-segment" else 0, dtype=np.int64)
    is_out, distance = index.check(np.zeros(3, dtype=np.int64), x, y, hints)
    assert is_out.tolist() == [False, False, True]
    assert np.isnan(distance[:2]).all() and distance[2] == pytest.approx(WIDTH + 1e-6)
    # The full answer (no hint) agrees.
    assert index.distance(np.zeros(3, dtype=np.int64), x, y).tolist()[:2] == [WIDTH, WIDTH]


def _engines(config: EngineConfig) -> tuple[Engine, ReferenceEngine]:
    x0, y0 = point_to_metric(47.0, 40.0)
    route = [point_to_lonlat(x0, y0), point_to_lonlat(x0 + 50_000, y0)]
    transit = TransitSpec("T1", "S1", route, 500.0, None, None)
    engine, ref = Engine(config), ReferenceEngine(config)
    for e in (engine, ref):
        e.set_transits([transit])
        e.set_zones([])
    return engine, ref


def _fixes(points: list[tuple[float, float, float]], speed: float = 60.0) -> tuple[list[float], ...]:
    """(t, metres along, metres off the route) to batch columns."""
    x0, y0 = point_to_metric(47.0, 40.0)
    t, lat, lon = [], [], []
    for ti, along, off in points:
        lo, la = point_to_lonlat(x0 + along, y0 + off)
        t.append(ti)
        lat.append(la)
        lon.append(lo)
    return t, lat, lon, [speed] * len(points)


@pytest.mark.parametrize("span", [59.0, 60.0])
def test_an_outside_run_spanning_exactly_exit_min_seconds_is_an_exit(span: float) -> None:
    config = EngineConfig(exit_min_fixes=2, exit_min_seconds=60.0, reentry_min_fixes=1, jump_max_kmh=1e6)
    engine, ref = _engines(config)
    t0 = 1_750_000_000.0
    # Inside, then two fixes 5 km off the route, ``span`` seconds apart.
    t, lat, lon, speed = _fixes([(t0, 1000, 0), (t0 + 10, 2000, 5000), (t0 + 10 + span, 3000, 5000)])
    batch = make_batch(["S1"] * 3, t, lat, lon, speed)
    got, expected = engine.process(batch), ref.process(batch)
    assert_same_observations(got, expected)
    exits = [o.t for o in got if o.kind == "corridor_exit"]
    assert exits == ([t0 + 10 + span] if span >= 60.0 else [])


@pytest.mark.parametrize("span", [179.0, 180.0])
def test_a_slow_run_spanning_exactly_stop_min_seconds_is_a_stop(span: float) -> None:
    config = EngineConfig(stop_speed_kmh=3.0, stop_min_seconds=180.0, jump_max_kmh=1e6)
    engine, ref = _engines(config)
    t0 = 1_750_000_000.0
    t, lat, lon, _ = _fixes([(t0, 1000, 0), (t0 + 100, 1001, 0), (t0 + 100 + span, 1002, 0), (t0 + 400, 1100, 0)])
    batch = make_batch(["S1"] * 4, t, lat, lon, [60.0, 1.0, 1.0, 50.0])
    got, expected = engine.process(batch), ref.process(batch)
    assert_same_observations(got, expected)
    starts = [o.t for o in got if o.kind == "stop_start"]
    assert starts == ([t0 + 100 + span] if span >= 180.0 else [])


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE", "derandomized") != "derandomized", reason="exploring")
def test_property_tests_run_derandomized() -> None:
    current = settings.default
    assert current is not None and current.derandomize and current.database is None
