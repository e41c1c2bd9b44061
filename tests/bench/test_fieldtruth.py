"""A tiny field-truth scenario through Mosquitto, ingest, engine and alerts: every injected
violation is caught, in coverage and out of it in both flush orders, and clean transits stay quiet."""

from __future__ import annotations

import asyncio
import math
import random
import time

import numpy as np
import pytest

from bench.fieldtruth.run import drive, load_roads, prepare
from bench.fieldtruth.scenario import Builder, messages_of
from bench.fieldtruth.score import score
from store.migrate import migrate


@pytest.mark.timeout(600)
def test_a_tiny_scenario_catches_every_injected_violation(fresh_db: str) -> None:
    start = float(int(time.time() - 18 * 3600))
    # Four trucks in a jam, then a deviation in coverage, in a backlog sent first and in one sent
    # after the live fix, and an unauthorized stop in coverage.
    kinds = ["deviation", "deviation", "deviation", "stop"]
    plans, _ = prepare(fresh_db, 8, 7, start, kinds)
    assert sorted((v.kind, v.covered) for p in plans for v in p.violations) == [
        ("deviation", "backlog first"),
        ("deviation", "in coverage"),
        ("deviation", "live first"),
        ("stop", "in coverage"),
    ]
    rng = random.Random(7)
    messages = sorted((m for p in plans for m in messages_of(p, rng)), key=lambda m: m.at)
    result = score(asyncio.run(drive(fresh_db, plans, messages, start, quiet=True)))
    assert result.misses == []
    assert result.recall_ok and [(name, n, hit) for name, n, hit, *_ in result.rows] == [
        ("deviation (in coverage)", 1, 1),
        ("deviation (backlog first)", 1, 1),
        ("deviation (live first)", 1, 1),
        ("stop (in coverage)", 1, 1),
    ]
    assert result.late >= 1  # the backlog sent after the live fix was judged late
    assert sum(result.false_alarms.values()) == 0, result.unexplained


def test_the_trucks_of_a_jam_leave_it_together_head_first(fresh_db: str) -> None:
    """A jam clears from its head: the truck behind cannot drive off a quarter of an hour before
    the one in front of it (then the last one stands alone, and its ground truth is no jam)."""
    plans, _ = prepare(fresh_db, 8, 3, float(int(time.time() - 18 * 3600)))
    ends = []
    for p in plans[:4]:  # the first four transits stand in the jam, head (first) to tail
        [(_, end, _)] = [s for s in p.stops if s[2] == "jam"]
        ends.append(end)
    assert ends == sorted(ends) and ends[-1] - ends[0] <= 120.0, ends


def test_a_seed_is_the_same_scenario_whatever_the_hour_it_starts(fresh_db: str) -> None:
    """The run starts 18 hours before the wall clock: two runs of one seed, at different hours,
    must drive the same transits (relative to their start), or a seed reproduces nothing."""
    migrate(fresh_db)
    roads = asyncio.run(load_roads(fresh_db))
    a, b = 1_790_000_000.0, 1_790_001_885.0  # half a period of anything that swings every hour

    def relative(start: float) -> list[tuple[object, ...]]:
        return [
            (p.transit_id, p.interval_s, round(p.released_at - start, 3), len(p.t),
             round(float(p.t[-1]) - start, 3), [(v.kind, v.covered, round(v.start - start, 3)) for v in p.violations],
             [(why, round(s0 - start, 3)) for s0, _, why in p.stops])
            for p in Builder(roads, start, 5).build(40)
        ]  # fmt: skip

    assert relative(a) == relative(b)


def test_no_stop_is_injected_where_a_jam_stands(fresh_db: str) -> None:
    """A truck stopping a few hundred metres behind four trucks stuck in a jam, while they stand,
    is in that jam: no rule could call it an unauthorized stop, so the scenario must not."""
    migrate(fresh_db)
    roads = asyncio.run(load_roads(fresh_db))
    plans = Builder(roads, 1_790_000_000.0, 6).build(40, ["stop"] * 36)
    jams = []
    for p in plans:
        for start, end, why in p.stops:
            if why == "jam":
                x, y, *_ = p.road.frame(p.along[np.searchsorted(p.t, start) :][:1])
                jams.append((float(x[0]), float(y[0]), start, end))
    assert len(jams) == 4
    stops = [(p, v) for p in plans for v in p.violations if v.kind == "stop"]
    assert len(stops) == 36
    for p, v in stops:
        x, y, *_ = p.road.frame(p.along[min(int(np.searchsorted(p.t, v.start)), p.t.size - 1) :][:1])
        for jx, jy, start, end in jams:
            near = math.hypot(float(x[0]) - jx, float(y[0]) - jy) < 3000
            assert not (near and start - 600 <= v.end and v.start <= end + 600), (p.transit_id, v)


def test_no_stop_is_injected_in_or_next_to_a_stop_area(fresh_db: str) -> None:
    """Stop areas are circles of a few hundred metres on the road: an injected stop kilometres
    from any of them is unauthorized by any rule, one inside it is not a violation at all."""
    migrate(fresh_db)
    roads = asyncio.run(load_roads(fresh_db))
    plans = Builder(roads, 1_790_000_000.0, 6).build(40, ["stop"] * 36)
    for p in plans:
        for v in p.violations:
            along = float(p.along[min(int(np.searchsorted(p.t, v.start)), p.t.size - 1)])
            nearest = min(abs(a.along_m - along) for a in p.road.areas)
            assert nearest > 3900, (p.transit_id, p.road.code, nearest)
