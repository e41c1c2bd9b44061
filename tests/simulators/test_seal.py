"""Virtual seals, pure logic: motion along real routes, sequence numbers, each injectable fault."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import shapely
from pyproj import Transformer

from sealwatch.geography import METRIC_CRS, PLACES, ROUTES, route_lonlat
from sealwatch.wire import Fix, SealState
from simulators.clock import SimClock
from simulators.faults import Fault, FaultKind, parse_fault
from simulators.path import RoutePath
from simulators.plans import SealPlan, default_plans, with_faults
from simulators.seal import VirtualSeal

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
TO_METRIC = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)


def route_line(code: str) -> shapely.LineString:
    vertices = route_lonlat(ROUTES[code])
    xs, ys = TO_METRIC.transform([v[0] for v in vertices], [v[1] for v in vertices])
    return shapely.LineString(list(zip(xs, ys, strict=True)))


def off_route_m(code: str, fix: Fix) -> float:
    x, y = TO_METRIC.transform(fix.lon, fix.lat)
    return float(route_line(code).distance(shapely.Point(x, y)))


def drive(seal: VirtualSeal, minutes: float, step_s: float = 30.0) -> list[list[list[Fix]]]:
    """Step every ``step_s`` for ``minutes``; the messages of each step."""
    steps = int(minutes * 60 / step_s)
    return [seal.step(T0 + timedelta(seconds=(i + 1) * step_s), step_s) for i in range(steps)]


def all_fixes(steps: list[list[list[Fix]]]) -> list[Fix]:
    return [fix for messages in steps for message in messages for fix in message]


def seal_with(*faults: Fault, route: str = "RBR-BAK", speed: float = 72.0) -> VirtualSeal:
    return VirtualSeal.from_plan(SealPlan("AZS-T0001", route, speed_kmh=speed, faults=faults, seed=1), seq_start=100)


def test_route_path_runs_from_origin_to_destination() -> None:
    path = RoutePath.of_route("RBR-BAK")
    start, end = path.at(0), path.at(path.length_m)
    assert (start.lon, start.lat) == (PLACES["AZRBR"].lon, PLACES["AZRBR"].lat)
    assert (end.lon, end.lat) == (PLACES["AZBAK"].lon, PLACES["AZBAK"].lat)
    # Red Bridge to Baku by the M2 is about 500 km by road; the town polyline a little less.
    assert 430_000 < path.length_m < 560_000
    assert 45 < path.at(1000).heading_deg < 180  # heading east-south-east out of Red Bridge


def test_seal_drives_at_its_speed_along_the_route_with_contiguous_sequence() -> None:
    seal = seal_with()
    fixes = all_fixes(drive(seal, 60))
    assert [f.seq for f in fixes] == list(range(100, 100 + len(fixes)))
    assert 65_000 < seal.distance_m < 79_000  # an hour at ~72 km/h
    assert max(off_route_m("RBR-BAK", f) for f in fixes) < 50  # GPS noise only
    assert all(f.seal_state is SealState.CLOSED for f in fixes)
    assert fixes[-1].battery_pct < fixes[0].battery_pct


def test_seal_stops_at_its_destination() -> None:
    seal = seal_with(route="SAM-BAK", speed=90.0)
    fixes = all_fixes(drive(seal, 6 * 60, step_s=120))
    assert seal.arrived
    assert fixes[-1].speed_kmh == 0
    end = PLACES["AZBAK"]
    assert abs(fixes[-1].lat - end.lat) < 0.001 and abs(fixes[-1].lon - end.lon) < 0.001


def test_deviation_leaves_the_corridor_and_comes_back() -> None:
    fault = Fault(FaultKind.DEVIATION, at_s=10 * 60, duration_s=20 * 60, magnitude=6000)
    steps = drive(seal_with(fault), 40)
    fixes = all_fixes(steps)
    t_of = [(f.t - T0).total_seconds() for f in fixes]
    during = [off_route_m("RBR-BAK", f) for f, t in zip(fixes, t_of, strict=True) if 17 * 60 <= t <= 23 * 60]
    after = [off_route_m("RBR-BAK", f) for f, t in zip(fixes, t_of, strict=True) if t >= 31 * 60]
    before = [off_route_m("RBR-BAK", f) for f, t in zip(fixes, t_of, strict=True) if t < 10 * 60]
    assert min(during) > 5_000
    assert max(before) < 50 and max(after) < 50


def test_stop_holds_position_at_zero_speed() -> None:
    steps = drive(seal_with(Fault(FaultKind.STOP, at_s=5 * 60, duration_s=15 * 60)), 30)
    fixes = all_fixes(steps)
    stopped = [f for f in fixes if 6 * 60 <= (f.t - T0).total_seconds() < 20 * 60]
    assert stopped and all(f.speed_kmh == 0 for f in stopped)
    spread = max(abs(a.lat - b.lat) + abs(a.lon - b.lon) for a in stopped for b in stopped)
    assert spread < 0.001  # noise only, about 100 m at most
    assert fixes[-1].speed_kmh and fixes[-1].speed_kmh > 30


@pytest.mark.parametrize(
    ("kind", "state"), [(FaultKind.OPENED, SealState.OPENED), (FaultKind.TAMPER, SealState.TAMPERED)]
)
def test_opened_and_tamper_stay_set(kind: FaultKind, state: SealState) -> None:
    fixes = all_fixes(drive(seal_with(Fault(kind, at_s=5 * 60)), 15))
    states = [f.seal_state for f in fixes]
    first = states.index(state)
    assert (fixes[first].t - T0).total_seconds() == pytest.approx(5 * 60, abs=30)
    assert set(states[:first]) == {SealState.CLOSED}
    assert set(states[first:]) == {state}


def test_signal_loss_buffers_then_flushes_one_batch_in_order() -> None:
    steps = drive(seal_with(Fault(FaultKind.SIGNAL_LOSS, at_s=5 * 60, duration_s=10 * 60)), 20)
    silent = [i for i, messages in enumerate(steps) if not messages]
    assert len(silent) == 20  # 10 minutes at one fix per 30 s
    flush = steps[silent[-1] + 1]
    assert len(flush) == 1 and len(flush[0]) == 21  # 20 buffered + the first fix back in coverage
    seqs = [f.seq for f in all_fixes(steps)]
    assert seqs == sorted(seqs) == list(range(seqs[0], seqs[0] + len(seqs)))


def test_long_signal_loss_flushes_in_batches_within_the_wire_limit() -> None:
    steps = drive(seal_with(Fault(FaultKind.SIGNAL_LOSS, at_s=0, duration_s=3001)), 51, step_s=1)
    flush = next(messages for messages in steps if messages)
    assert [len(m) for m in flush] == [1000, 1000, 1000, 1]


def test_low_battery_falls_to_the_target() -> None:
    fixes = all_fixes(drive(seal_with(Fault(FaultKind.LOW_BATTERY, at_s=5 * 60, duration_s=5 * 60, magnitude=8)), 15))
    assert fixes[5].battery_pct > 90
    assert all(f.battery_pct <= 8.0 for f in fixes if (f.t - T0).total_seconds() >= 10 * 60)


def test_gps_jump_displaces_exactly_one_fix() -> None:
    fixes = all_fixes(drive(seal_with(Fault(FaultKind.GPS_JUMP, at_s=5 * 60, magnitude=40_000)), 15))
    far = [f for f in fixes if off_route_m("RBR-BAK", f) > 30_000]
    assert len(far) == 1
    assert (far[0].t - T0).total_seconds() == pytest.approx(5 * 60, abs=30)


def test_parse_fault_reads_the_command_line_form() -> None:
    selector, fault = parse_fault("deviation:AZS-00003@12/25=8000")
    assert selector == "AZS-00003"
    assert fault == Fault(FaultKind.DEVIATION, at_s=720, duration_s=1500, magnitude=8000)
    selector, fault = parse_fault("tamper:#4")
    assert selector == "#4" and fault.kind is FaultKind.TAMPER and fault.at_s == 600


@pytest.mark.parametrize("bad", ["explode:#1", "deviation", "stop:#1@x", "stop:#1@5/"])
def test_parse_fault_rejects_bad_specs(bad: str) -> None:
    with pytest.raises(ValueError, match="fault"):
        parse_fault(bad)


def test_faults_attach_by_id_or_index_and_reject_unknown_seals() -> None:
    plans = default_plans(5, seed=3)
    assert len({p.route_code for p in plans}) == 5
    tamper = Fault(FaultKind.TAMPER)
    stop = Fault(FaultKind.STOP)
    out = with_faults(plans, [("#1", tamper), (plans[3].seal_id, stop)])
    assert [p.faults for p in out] == [(), (tamper,), (), (stop,), ()]
    with pytest.raises(ValueError, match="unknown seal"):
        with_faults(plans, [("AZS-99999", tamper)])
    with pytest.raises(ValueError, match="5 seals"):
        with_faults(plans, [("#5", tamper)])


def test_plans_are_reproducible_from_the_seed() -> None:
    assert default_plans(8, seed=11) == default_plans(8, seed=11)
    assert default_plans(8, seed=11) != default_plans(8, seed=12)


def test_clock_replays_fast_then_never_runs_ahead_of_the_wall() -> None:
    wall = time.time()
    clock = SimClock(start_ago_s=3600, speedup=10, wall_start=wall)
    assert clock.at(wall) == pytest.approx(wall - 3600)
    assert clock.at(wall + 60) == pytest.approx(wall - 3600 + 600)
    assert clock.at(wall + 1000) == pytest.approx(wall + 1000)  # caught up after 400 s
    assert clock.now().timestamp() <= time.time()
    with pytest.raises(ValueError):
        SimClock(speedup=0.5)


def test_a_seal_drives_its_transits_own_road_not_the_town_line() -> None:
    """A route imported or learned as real road geometry is what the virtual truck follows."""
    town = route_lonlat(ROUTES["AST-HAJ"])
    a, b = town[0], town[1]  # Astara → Lankaran, bent 3 km east halfway like a coastal road
    road = ((a[0], a[1]), ((a[0] + b[0]) / 2 + 0.035, (a[1] + b[1]) / 2), (b[0], b[1]), *town[2:])
    plan = SealPlan("AZS-T0002", "AST-HAJ", speed_kmh=80.0, seed=3, route_line=road)
    fixes = all_fixes(drive(VirtualSeal.from_plan(plan), 25))
    xs, ys = TO_METRIC.transform([p[0] for p in road], [p[1] for p in road])
    road_m = shapely.LineString(list(zip(xs, ys, strict=True)))
    on_road = [road_m.distance(shapely.Point(*TO_METRIC.transform(f.lon, f.lat))) for f in fixes]
    assert len(fixes) > 40 and max(on_road) < 100  # GPS noise only
    assert max(off_route_m("AST-HAJ", f) for f in fixes) > 1_500  # the town line is far from this road
