"""Pure rule logic, no database: each rule, battery hysteresis, jitter storms, late fixes, dedup."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import pytest
from shapely.geometry import LineString

from alerts.dedup import MemoryBook, OpenAlert, ResolvedAlert, decide
from alerts.lifecycle import next_status
from alerts.model import AlertConflictError, Condition, TransitContext, TransitMemory
from alerts.rules import evaluate_batch, evaluate_tick
from alerts.rules.low_battery import next_level
from alerts.settings import AlertSettings
from geofence import Engine, EngineConfig, Observation, TransitSpec
from geofence.projection import point_to_lonlat, ring_to_metric
from sealwatch.fixes import FixBatch, FixRecord
from sealwatch.geography import ROUTES, route_lonlat
from tests.alerts.conftest import BAKU, T0, at, fix, obs

S = AlertSettings()
SEAL, TRANSIT = "AZS-000001", "TR000001"


def ctx(**kw: object) -> TransitContext:
    base: dict[str, object] = {
        "transit_id": TRANSIT,
        "status": "active",
        "deadline": (T0 + timedelta(hours=10)).timestamp(),
        "released_at": (T0 - timedelta(hours=1)).timestamp(),
        "office_destination": "AZBAK",
    }
    base.update(kw)
    return TransitContext(**base)  # type: ignore[arg-type]


class Harness:
    """Runs batches through the evaluator into an in-memory book, like the service does with the DB."""

    def __init__(self, settings: AlertSettings = S, context: TransitContext | None = None) -> None:
        self.settings = settings
        self.ctx = context or ctx()
        self.mem = TransitMemory()
        self.book = MemoryBook(settings)

    def run(self, records: Sequence[FixRecord] = (), observations: Sequence[Observation] = ()) -> list[Condition]:
        conds = evaluate_batch(records, observations, {SEAL: self.ctx}, {TRANSIT: self.mem}, self.settings)
        self.book.apply(conds)
        return conds

    def tick(self, seconds: float) -> list[Condition]:
        conds = evaluate_tick(at(seconds).timestamp(), self.ctx, self.mem, self.settings, SEAL)
        self.book.apply(conds)
        return conds


# ---- low battery ----


@pytest.mark.parametrize(
    ("prev", "pct", "expected"),
    [
        ("ok", 20.0, "ok"),
        ("ok", 19.9, "warning"),
        ("ok", 9.9, "critical"),
        ("warning", 24.9, "warning"),
        ("warning", 25.0, "warning"),
        ("warning", 25.1, "ok"),
        ("warning", 9.0, "critical"),
        ("critical", 14.9, "critical"),
        ("critical", 15.0, "critical"),
        ("critical", 15.1, "warning"),
        ("critical", 25.5, "ok"),
    ],
)
def test_battery_levels(prev: str, pct: float, expected: str) -> None:
    assert next_level(prev, pct, S) == expected  # type: ignore[arg-type]


def test_battery_hovering_around_threshold_raises_exactly_one_alert() -> None:
    h = Harness()
    readings = [21, 19.5, 20.5, 19.8, 21, 24, 19, 22, 24.9, 20.1, 19.9]
    h.run([fix(SEAL, i * 60, battery=b) for i, b in enumerate(readings)])
    alerts = h.book.of_type("low_battery")
    assert len(alerts) == 1 and alerts[0].status == "open" and alerts[0].severity == "warning"
    # Crossing the clear threshold resolves it; hovering again below 20 then raises a second one.
    h.run([fix(SEAL, 1000, battery=26), fix(SEAL, 1060, battery=24), fix(SEAL, 1120, battery=19)])
    alerts = h.book.of_type("low_battery")
    assert [a.status for a in alerts] == ["resolved", "open"]


def test_battery_critical_upgrade_and_hysteresis_down() -> None:
    h = Harness()
    h.run([fix(SEAL, 0, battery=18), fix(SEAL, 60, battery=9), fix(SEAL, 120, battery=11), fix(SEAL, 180, battery=9.5)])
    [alert] = h.book.of_type("low_battery")
    assert alert.severity == "critical" and alert.count == 2  # raised warning, upgraded once; 11 % stays critical
    h.run([fix(SEAL, 240, battery=16)])
    assert str(alert.severity) == "warning" and alert.status == "open"


# ---- route deviation and jitter ----


def test_route_deviation_raise_and_auto_resolve() -> None:
    h = Harness()
    h.run(observations=[obs(SEAL, TRANSIT, "corridor_exit", 100, distance_m=2500)])
    [a] = h.book.of_type("route_deviation")
    assert a.status == "open" and a.severity == "warning" and a.evidence["distance_m"] == 2500
    h.run(observations=[obs(SEAL, TRANSIT, "corridor_reentry", 400)])
    assert str(a.status) == "resolved" and a.outcome == "auto_cleared"


def test_route_deviation_stays_for_operator_when_configured() -> None:
    h = Harness(AlertSettings(route_deviation_auto_resolve=False))
    h.run(observations=[obs(SEAL, TRANSIT, "corridor_exit", 100), obs(SEAL, TRANSIT, "corridor_reentry", 400)])
    [a] = h.book.of_type("route_deviation")
    assert a.status == "open" and a.cleared
    assert [d for d, _ in h.book.decisions] == ["create", "note"]


ROUTE_LINE = LineString(ring_to_metric(route_lonlat(ROUTES["RBR-BAK"])))


def _offset_point(along_m: float, offset_m: float) -> tuple[float, float]:
    p, q = ROUTE_LINE.interpolate(along_m), ROUTE_LINE.interpolate(along_m + 1.0)
    dx, dy = q.x - p.x, q.y - p.y
    n = math.hypot(dx, dy)
    lon, lat = point_to_lonlat(p.x - dy / n * offset_m, p.y + dx / n * offset_m)
    return lat, lon


def test_corridor_jitter_from_the_engine_makes_no_storm() -> None:
    """A truck weaving along the corridor edge: the engine reports several exits, we raise one alert."""
    engine = Engine(EngineConfig())
    width = 2000.0
    engine.set_transits([TransitSpec(TRANSIT, SEAL, route_lonlat(ROUTES["RBR-BAK"]), width)])
    records: list[FixRecord] = []
    # 15 s fixes; every 3 minutes the truck swerves out for 90 s (long enough for an engine exit).
    for i in range(240):
        seconds = i * 15.0
        outside = (i % 12) >= 6
        offset = width + 300 if outside else width - 200 + (i % 3) * 50
        lat, lon = _offset_point(20_000 + i * 200.0, offset)
        records.append(fix(SEAL, seconds, seq=i, lat=lat, lon=lon))
    h = Harness()
    exits = 0
    for start in range(0, len(records), 20):  # ingest-sized batches
        chunk = records[start : start + 20]
        observations = engine.process(FixBatch.from_records(chunk))
        exits += sum(o.kind == "corridor_exit" for o in observations)
        h.run(chunk, observations)
    assert exits >= 5, "the scenario must make the engine flap, or it tests nothing"
    alerts = h.book.of_type("route_deviation")
    assert len(alerts) == 1
    assert alerts[0].count == exits


def test_reopen_window_is_limited() -> None:
    h = Harness(AlertSettings(route_deviation_reopen_within_s=300))
    h.run(observations=[obs(SEAL, TRANSIT, "corridor_exit", 0), obs(SEAL, TRANSIT, "corridor_reentry", 100)])
    h.run(observations=[obs(SEAL, TRANSIT, "corridor_exit", 1000)])  # 900 s later: a new deviation
    assert len(h.book.of_type("route_deviation")) == 2


# ---- late fixes ----


def test_late_fixes_never_raise_stale_alerts() -> None:
    h = Harness()
    h.run([fix(SEAL, 100, battery=15), fix(SEAL, 200, battery=30)])
    [a] = h.book.of_type("low_battery")
    assert a.status == "resolved"
    # A fix from before the recovery arrives late: no new alert.
    conds = h.run([fix(SEAL, 150, battery=15, state="opened")])
    assert conds == [] and len(h.book.alerts) == 1
    # A replayed observation older than the seal's last fix does nothing either.
    conds = h.run(observations=[obs(SEAL, TRANSIT, "corridor_exit", 180)])
    assert conds == []
    assert h.mem.seals[SEAL].last_t == at(200).timestamp()


def test_out_of_order_within_a_batch_is_judged_in_time_order() -> None:
    h = Harness()
    # Sent newest first: opened at 300 must still be seen after closed at 200.
    h.run([fix(SEAL, 300, state="opened"), fix(SEAL, 200, state="closed")])
    [a] = h.book.alerts
    assert a.type == "seal_opened" and a.severity == "critical"


# ---- seal integrity ----


def test_seal_opened_and_tampered_transitions() -> None:
    h = Harness()
    h.run([fix(SEAL, 0), fix(SEAL, 10, state="opened"), fix(SEAL, 20, state="opened"), fix(SEAL, 30, state="tampered")])
    assert [(a.type, a.severity, a.count) for a in h.book.alerts] == [
        ("seal_opened", "critical", 1),
        ("seal_tampered", "critical", 1),
    ]


def test_first_fix_already_opened_counts() -> None:
    h = Harness()
    h.run([fix(SEAL, 0, state="opened")])
    assert [a.type for a in h.book.alerts] == ["seal_opened"]


def _square(lat: float, lon: float, d: float = 0.02) -> tuple[tuple[float, float], ...]:
    return ((lon - d, lat - d), (lon + d, lat - d), (lon + d, lat + d), (lon - d, lat + d), (lon - d, lat - d))


def test_opened_at_destination_after_arrival_is_not_an_alert() -> None:
    h = Harness(context=ctx(destination_ring=_square(*BAKU)))
    h.run(
        [fix(SEAL, 100, lat=BAKU[0], lon=BAKU[1]), fix(SEAL, 200, lat=BAKU[0], lon=BAKU[1], state="opened")],
        [obs(SEAL, TRANSIT, "arrival", 100, lat=BAKU[0], lon=BAKU[1], deadline=None, late=False)],
    )
    assert [a.type for a in h.book.alerts] == ["arrival"]
    assert h.book.alerts[0].status == "resolved"  # informational, closed at once


def test_opened_after_arrival_outside_office_is_critical() -> None:
    h = Harness(context=ctx(destination_ring=_square(*BAKU)))
    h.run([], [obs(SEAL, TRANSIT, "arrival", 100, lat=BAKU[0], lon=BAKU[1])])
    h.run([fix(SEAL, 500, lat=40.0, lon=48.0, state="opened")])
    assert [(a.type, a.severity) for a in h.book.alerts if a.type != "arrival"] == [("seal_opened", "critical")]


def test_opened_at_destination_info_when_configured() -> None:
    h = Harness(AlertSettings(opened_at_destination="info"), context=ctx(destination_ring=_square(*BAKU)))
    h.run(
        [fix(SEAL, 200, lat=BAKU[0], lon=BAKU[1], state="opened")],
        [obs(SEAL, TRANSIT, "arrival", 100, lat=BAKU[0], lon=BAKU[1])],
    )
    assert [(a.type, a.severity) for a in h.book.alerts] == [("arrival", "info"), ("seal_opened", "info")]


# ---- stops, zones, jumps, arrival ----


def test_unauthorized_stop_only_when_not_authorized() -> None:
    h = Harness(AlertSettings(unauthorized_stop_min_s=0))
    start = at(0).timestamp()
    h.run(observations=[obs(SEAL, TRANSIT, "stop_start", 300, started_at=start, authorized=True)])
    assert h.book.alerts == []
    h.run(observations=[obs(SEAL, TRANSIT, "stop_start", 1300, started_at=at(1000).timestamp(), authorized=False)])
    [a] = h.book.alerts
    assert a.type == "unauthorized_stop" and a.evidence["duration_s"] == 300


def test_unauthorized_stop_extra_minimum() -> None:
    h = Harness(AlertSettings(unauthorized_stop_min_s=900))
    started = at(0).timestamp()
    # Engine reports at 300 s; still too short. A slow fix at 600 s: still short. At 960 s: raise.
    h.run([fix(SEAL, 300, speed=0)], [obs(SEAL, TRANSIT, "stop_start", 300, started_at=started, authorized=False)])
    h.run([fix(SEAL, 600, speed=0)])
    assert h.book.alerts == []
    h.run([fix(SEAL, 960, speed=0)])
    assert [a.type for a in h.book.alerts] == ["unauthorized_stop"]
    # A second stop that ends before the minimum is forgotten.
    h2 = Harness(AlertSettings(unauthorized_stop_min_s=900))
    h2.run(observations=[obs(SEAL, TRANSIT, "stop_start", 300, started_at=started, authorized=False)])
    h2.run(observations=[obs(SEAL, TRANSIT, "stop_end", 500, started_at=started, duration_s=500, authorized=False)])
    h2.run([fix(SEAL, 2000)])
    assert h2.book.alerts == []


def test_restricted_zone_only_for_restricted_areas() -> None:
    h = Harness()
    h.run(
        observations=[
            obs(SEAL, TRANSIT, "zone_enter", 10, zone_code="AZGNJ", zone_kind="customs_office"),
            obs(SEAL, TRANSIT, "zone_enter", 20, zone_code="MIL-1", zone_kind="restricted_area"),
            obs(SEAL, TRANSIT, "zone_exit", 90, zone_code="MIL-1", zone_kind="restricted_area"),
        ]
    )
    [a] = h.book.alerts
    assert (a.type, a.severity, a.status, a.cleared) == ("restricted_zone", "critical", "open", True)


def test_gps_jump_dedups_into_one_alert() -> None:
    h = Harness()
    h.run(observations=[obs(SEAL, TRANSIT, "jump", s, implied_speed_kmh=900) for s in (10, 20, 30)])
    [a] = h.book.alerts
    assert a.type == "gps_jump" and a.count == 3


def test_arrival_closes_moot_alerts_but_not_violations() -> None:
    h = Harness()
    h.run(
        [fix(SEAL, 5, state="tampered")],
        [obs(SEAL, TRANSIT, "corridor_exit", 10), obs(SEAL, TRANSIT, "jump", 20)],
    )
    h.tick(20 * 3600)  # silent and past the deadline
    assert {a.type for a in h.book.alerts if a.status == "open"} == {
        "route_deviation",
        "gps_jump",
        "seal_tampered",
        "overdue",
        "signal_lost",
    }
    h.run(observations=[obs(SEAL, TRANSIT, "arrival", 20 * 3600 + 5, late=True)])
    assert {a.type for a in h.book.alerts if a.status == "open"} == {"seal_tampered"}


# ---- timers ----


def test_signal_lost_and_overdue_from_ticks() -> None:
    h = Harness(context=ctx(deadline=at(3600).timestamp()))
    h.run([fix(SEAL, 0)])
    assert h.tick(600) == []  # exactly the threshold: not yet
    h.tick(601)
    h.tick(700)
    [lost] = h.book.alerts
    assert lost.type == "signal_lost" and lost.count == 1  # later ticks do not count again
    # A stale (old, buffered) fix does not bring the signal back; a fresh one does.
    h.run([fix(SEAL, 10, received_delay_s=690)])
    assert lost.status == "open"
    h.run([fix(SEAL, 720)])
    assert str(lost.status) == "resolved"
    h.run([fix(SEAL, 3500)])
    h.tick(3601)
    assert [a.type for a in h.book.alerts if a.status == "open"] == ["overdue"]


# ---- dedup and lifecycle tables ----


def test_decide_ignores_raise_older_than_its_clearing() -> None:
    cond = Condition("route_deviation", "raise", TRANSIT, SEAL, 100.0, 0.0, 0.0)
    last = ResolvedAlert(1, "auto_cleared", cleared_t=200.0)
    assert decide(cond, None, last, S) == "ignore"
    assert decide(cond, OpenAlert(1, "route_deviation", "open", "warning", 50.0, 1, False), None, S) == "update"


@pytest.mark.parametrize(
    ("action", "status", "acked", "expected"),
    [
        ("acknowledge", "open", False, "acknowledged"),
        ("acknowledge", "dispatched", False, "dispatched"),
        ("dispatch", "open", False, "dispatched"),
        ("dispatch", "acknowledged", True, "dispatched"),
        ("dispatch", "dispatched", True, "dispatched"),
        ("resolve", "open", False, "resolved"),
        ("resolve", "dispatched", True, "resolved"),
    ],
)
def test_legal_transitions(action: str, status: str, acked: bool, expected: str) -> None:
    assert next_status(action, status, acked) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("action", "status", "acked"),
    [
        ("acknowledge", "acknowledged", True),
        ("acknowledge", "dispatched", True),
        ("acknowledge", "resolved", True),
        ("dispatch", "resolved", True),
        ("resolve", "resolved", True),
    ],
)
def test_illegal_transitions(action: str, status: str, acked: bool) -> None:
    with pytest.raises(AlertConflictError):
        next_status(action, status, acked)  # type: ignore[arg-type]
