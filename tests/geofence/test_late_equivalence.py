"""Property test: whatever order a track's messages arrive in, the late path ends with exactly the
observations the per-fix reference makes from in-order delivery.

The live engine judges what is new for a seal and drops what is older than its last accepted fix;
such a seal is judged again in time order from its stored fixes (``geofence.late``), which replaces
the observations after the fix before the backlog and hands the live engine the in-order state.
Tracks come from the engine's own equivalence generator (gaps, stops, deviations, jumps, zones),
fixes are delivered in any permutation cut into batches, and the final stored observations must
equal the reference's over the time-ordered track. Two fixes of one seal at the same instant are
decided by arrival order by definition (the first one received counts), so tracks here keep one
fix per instant.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from geofence import Engine
from geofence.late import rejudge
from geofence.model import EngineConfig, Observation, TransitSpec, ZoneSpec
from sealwatch.fixes import FixBatch, FixRecord
from tests.geofence.reference import ReferenceEngine, assert_same_observations, make_batch
from tests.geofence.test_equivalence import Scenario, scenarios

Key = tuple[str, str, float, str]


class Delivery:
    """The live engine plus the late path over an in-memory fix store (the database's job live)."""

    def __init__(self, config: EngineConfig, transits: list[TransitSpec], zones: list[ZoneSpec]) -> None:
        self.engine = Engine(config)
        self.engine.set_zones(zones)
        self.engine.set_transits(transits)
        self.fixes: dict[str, list[FixRecord]] = {}
        self.stored: dict[Key, Observation] = {}
        self.rejudged = 0

    def deliver(self, records: list[FixRecord]) -> None:
        for r in records:
            self.fixes.setdefault(r.seal_id, []).append(r)
        batch = FixBatch.from_records(records)
        late = self.engine.late_fixes(batch)
        for o in self.engine.process(batch):
            self.stored.setdefault((o.seal_id, o.kind, o.t, o.zone_code), o)
        for seal_id, late_t in late.items():
            done = rejudge(self.engine, seal_id, self.fixes[seal_id], late_t)
            assert done is not None
            result, fresh = done
            for key in [k for k in self.stored if k[0] == seal_id and k[2] > result.since]:
                del self.stored[key]
            for o in result.replaced():
                self.stored.setdefault((o.seal_id, o.kind, o.t, o.zone_code), o)
            self.engine.adopt(fresh, [seal_id])
            self.rejudged += 1

    def observations(self) -> list[Observation]:
        return sorted(self.stored.values(), key=lambda o: o.sort_key())


def _records(sc: Scenario) -> list[FixRecord]:
    """The scenario's fixes of known seals as records, one per (seal, instant), seq in time order."""
    rows = [
        (str(sid), float(t), float(lat), float(lon), float(v))
        for b in sc.batches
        for sid, t, lat, lon, v in zip(b.seal_id, b.t, b.lat, b.lon, b.speed_kmh, strict=True)
        if sid != "UNKNOWN"
    ]
    rows.sort(key=lambda r: (r[0], r[1]))
    seen: set[tuple[str, float]] = set()
    out = []
    for seq, (sid, t, lat, lon, v) in enumerate(rows):
        if (sid, t) in seen:
            continue
        seen.add((sid, t))
        when = datetime.fromtimestamp(t, UTC)
        speed = None if math.isnan(v) else v
        out.append(FixRecord(sid, seq, when, lat, lon, speed, None, None, None, 90.0, "closed", when))
    return out


def _in_order(sc: Scenario, records: list[FixRecord]) -> list[Observation]:
    ref = ReferenceEngine(sc.config)
    ref.set_transits(sc.transits)
    ref.set_zones(sc.zones)
    got = ref.process(FixBatch.from_records(sorted(records, key=lambda r: (r.t, r.seq)))) if records else []
    return sorted(got, key=lambda o: o.sort_key())


def _check(sc: Scenario, order: list[int], cuts: list[int]) -> Delivery:
    records = _records(sc)
    arrival = [records[i] for i in order if i < len(records)]
    delivery = Delivery(sc.config, sc.transits, sc.zones)
    for lo, hi in zip([0, *cuts], [*cuts, len(arrival)], strict=True):
        if arrival[lo:hi]:
            delivery.deliver(arrival[lo:hi])
    assert_same_observations(delivery.observations(), _in_order(sc, records))
    return delivery


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[Scenario, list[int], list[int]]:
    sc = draw(scenarios())
    n = len(_records(sc))
    how = draw(st.sampled_from(["shuffled", "live_first", "reversed"]))
    if how == "shuffled":
        order = list(draw(st.permutations(range(n))))
    elif how == "reversed":  # every fix but the first to arrive is late
        order = list(range(n))[::-1]
    else:  # a coverage gap: the live fix after it first, then the backlog, then the rest
        a = draw(st.integers(0, n))
        b = draw(st.integers(a, n))
        order = [*range(a), *range(b, min(b + 1, n)), *range(a, b), *range(b + 1, n)]
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, n - 1)), max_size=8)))) if n > 1 else []
    return sc, order, cuts


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(deliveries())
def test_any_arrival_order_ends_with_the_in_order_observations(case: tuple[Scenario, list[int], list[int]]) -> None:
    _check(*case)


def test_boundary_orders_reach_the_late_path() -> None:
    """The generator's orders really exercise the late path: a single late fix just before the
    live one, one at the very first instant, and a track delivered newest first."""
    seen = {"rejudged": 0}

    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(scenarios())
    def run(sc: Scenario) -> None:
        n = len(_records(sc))
        if n < 3:
            return
        for order in (
            [*range(n - 2), n - 1, n - 2],  # the fix just before the newest arrives after it
            [*range(1, n), 0],  # the first fix arrives last
            list(range(n))[::-1],
        ):
            seen["rejudged"] += _check(sc, order, []).rejudged + _check(sc, order, list(range(1, n))).rejudged

    run()
    assert seen["rejudged"] > 40


@example(None)
@given(st.none())
def test_late_fix_never_moves_the_live_state_backward(_: None) -> None:
    """After a backlog the seal's last accepted time and position are those of its newest fix."""
    spec = TransitSpec("T1", "S1", [(47.0, 40.0), (47.5, 40.0)], 1000.0)
    d = Delivery(EngineConfig(), [spec], [])
    t0 = 1_750_000_000.0

    def rec(i: int, lon: float) -> FixRecord:
        when = datetime.fromtimestamp(t0 + 60 * i, UTC)
        return FixRecord("S1", i, when, 40.0, lon, 60.0, None, None, None, 90.0, "closed", when)

    d.deliver([rec(0, 47.0), rec(10, 47.1)])
    d.deliver([rec(i, 47.0 + 0.01 * i) for i in range(1, 10)])
    assert d.engine.last_t("S1") == t0 + 600
    state = d.engine._state
    assert math.isclose(float(state.plon[0]), 47.1) and float(state.pt[0]) == t0 + 600


def test_a_late_fix_after_a_gps_jump_reinterpolates_the_crossing_from_before_the_jump() -> None:
    """A (plausible), J (a jump), C (live), then B late between J and C. In time order the zone is
    crossed on A→B, before J's time; live it was crossed on A→C. The crossing before J must be
    judged again too: a jump starts no segment."""
    t0 = 1_750_000_000.0
    lon = 46.5
    transit = TransitSpec("T0", "S0", [(lon, 41.10), (lon, 41.25)], 2_000.0)
    zone = ZoneSpec("Z0", "customs_office", [(lon - 0.0005, 41.152), (lon + 0.0005, 41.152),
                                              (lon + 0.0005, 41.153), (lon - 0.0005, 41.153)])  # fmt: skip
    # A, J (10 km away in 30 s), B, C in time order.
    fixes = make_batch(
        ["S0"] * 4, [t0, t0 + 30, t0 + 60, t0 + 300], [41.150, 41.190, 41.155, 41.160], [lon, 46.6, lon, lon]
    )
    sc = Scenario(EngineConfig(), [transit], [zone], [fixes], frozenset())
    delivery = _check(sc, [0, 1, 3, 2], [1, 2, 3])  # B arrives last, each fix on its own
    assert delivery.rejudged == 1
    enters = [o.t for o in delivery.observations() if o.kind == "zone_enter"]
    assert len(enters) == 1 and t0 < enters[0] < t0 + 30, enters
