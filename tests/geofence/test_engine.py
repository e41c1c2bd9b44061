"""Scenario tests of the geofence engine on the real RBR-BAK route (Red Bridge – Baku, M2).

Each scenario is also run through the per-fix reference, so a scenario pins both the intended
behaviour and the engine/reference agreement on hand-made edge cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from unittest.mock import patch

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

import geofence.slots
from geofence import Engine, EngineConfig, Observation, TransitSpec, ZoneSpec
from geofence.projection import point_to_lonlat, ring_to_metric
from geofence.slots import SlotIndex
from sealwatch.fixes import FixBatch
from sealwatch.geography import PLACES, ROUTES, route_lonlat
from tests.geofence.reference import ReferenceEngine, assert_same_observations, make_batch

ROUTE = route_lonlat(ROUTES["RBR-BAK"])
LINE = LineString(ring_to_metric(ROUTE))
WIDTH = 2000.0
SEAL = "AZS-000001"
T0 = 1_750_000_000.0


def at(along_m: float, offset_m: float = 0.0) -> tuple[float, float]:
    """(lat, lon) of a point ``along_m`` metres along the route, ``offset_m`` to its left."""
    p = LINE.interpolate(along_m)
    q = LINE.interpolate(along_m + 1.0)
    dx, dy = q.x - p.x, q.y - p.y
    norm = math.hypot(dx, dy)
    lon, lat = point_to_lonlat(p.x - dy / norm * offset_m, p.y + dx / norm * offset_m)
    return lat, lon


@dataclass
class Track:
    """A seal's fixes, built step by step."""

    seal: str = SEAL
    t: list[float] = field(default_factory=list)
    lat: list[float] = field(default_factory=list)
    lon: list[float] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)

    def add(self, t: float, along_m: float, offset_m: float = 0.0, speed: float = 70.0) -> Track:
        lat, lon = at(along_m, offset_m)
        self.t.append(t)
        self.lat.append(lat)
        self.lon.append(lon)
        self.speed.append(speed)
        return self

    def batch(self, lo: int = 0, hi: int | None = None) -> FixBatch:
        sl = slice(lo, hi)
        n = len(self.t[sl])
        return make_batch([self.seal] * n, self.t[sl], self.lat[sl], self.lon[sl], self.speed[sl])


def transit(seal: str = SEAL, tid: str = "T-1", dest: str | None = None, deadline: float | None = None) -> TransitSpec:
    return TransitSpec(tid, seal, ROUTE, WIDTH, destination_zone=dest, deadline=deadline)


def zone_at(code: str, kind: str, along_m: float, radius_m: float, offset_m: float = 0.0) -> ZoneSpec:
    lat, lon = at(along_m, offset_m)
    return ZoneSpec.circle(code, kind, lon, lat, radius_m)  # type: ignore[arg-type]


def run(
    tracks: list[Track],
    zones: list[ZoneSpec] | None = None,
    transits: list[TransitSpec] | None = None,
    chunk: int | None = None,
    config: EngineConfig | None = None,
) -> tuple[list[Observation], Engine]:
    """Feed the tracks (time-ordered, optionally in chunks) to engine and reference; assert they agree."""
    engine, ref = Engine(config), ReferenceEngine(config or EngineConfig())
    trs = transits or [transit(tr.seal, f"T-{tr.seal}") for tr in tracks]
    for e in (engine, ref):
        e.set_transits(trs)
        e.set_zones(zones or [])
    rows = sorted(
        (t, tr.seal, la, lo, sp) for tr in tracks for t, la, lo, sp in zip(tr.t, tr.lat, tr.lon, tr.speed, strict=True)
    )
    size = chunk or len(rows)
    got: list[Observation] = []
    want: list[Observation] = []
    for i in range(0, len(rows), size):
        part = rows[i : i + size]
        b = make_batch([r[1] for r in part], [r[0] for r in part], [r[2] for r in part], [r[3] for r in part],
                       [r[4] for r in part])  # fmt: skip
        got += engine.process(b)
        want += ref.process(b)
    assert_same_observations(got, want)
    return sorted(got, key=Observation.sort_key), engine


def kinds(obs: list[Observation]) -> list[str]:
    return [o.kind for o in obs]


def test_jitter_at_corridor_edge_gives_no_exit() -> None:
    tr = Track()
    for i in range(40):  # alternating 1.9 km / 2.1 km off the route, 30 s apart
        tr.add(T0 + 30 * i, 50_000 + 600 * i, 1900 if i % 2 else 2100)
    obs, _ = run([tr])
    assert "corridor_exit" not in kinds(obs)


def test_short_burst_outside_is_not_an_exit_without_enough_time() -> None:
    tr = Track()
    for i in range(5):
        tr.add(T0 + 10 * i, 50_000 + 200 * i)
    for i in range(4):  # 4 out fixes within 30 s: enough fixes, not enough time
        tr.add(T0 + 50 + 10 * i, 51_000 + 200 * i, 3000)
    tr.add(T0 + 100, 52_000)
    obs, _ = run([tr])
    assert "corridor_exit" not in kinds(obs)


def test_real_deviation_gives_one_exit_and_one_reentry() -> None:
    tr = Track()
    # On the route, a 5 km detour for ten fixes (ramped so no step is a jump), back on the route.
    offsets = [0.0] * 10 + [1000.0, 2500, 4000] + [5000.0] * 6 + [4000, 2500, 1000] + [0.0] * 8
    for i, off in enumerate(offsets):
        tr.add(T0 + 30 * i, 50_000 + 600 * i, off)
    obs, _ = run([tr])
    ex = [o for o in obs if o.kind == "corridor_exit"]
    re = [o for o in obs if o.kind == "corridor_reentry"]
    assert len(ex) == 1 and len(re) == 1
    # Fixes 11..20 are out; the third out fix (13) is 60 s after the first: both thresholds met there.
    assert ex[0].t == tr.t[13] and ex[0].evidence["first_out_t"] == tr.t[11] and ex[0].evidence["fixes"] == 3
    assert ex[0].evidence["distance_m"] == pytest.approx(5000, abs=50)
    assert re[0].t == tr.t[22] and re[0].evidence == {
        "first_in_t": tr.t[21],
        "distance_m": re[0].evidence["distance_m"],
        "fixes": 2,
    }
    assert re[0].evidence["distance_m"] == pytest.approx(0, abs=1)


def test_sparse_fixes_crossing_a_small_zone_give_enter_and_exit() -> None:
    zone = zone_at("PARK1", "authorized_stop", 100_000, 500)
    tr = Track().add(T0, 95_000).add(T0 + 240, 105_000)  # 10 km in 4 min: 150 km/h, not a jump
    obs, _ = run([tr], [zone])
    assert kinds(obs) == ["zone_enter", "zone_exit"]
    enter, leave = obs
    assert enter.zone_code == leave.zone_code == "PARK1"
    assert enter.evidence == {"zone_kind": "authorized_stop", "crossed_between": True}
    # Zone spans 99.5–100.5 km of the 95–105 km segment: 45 % and 55 % of the 240 s.
    assert enter.t == pytest.approx(T0 + 0.45 * 240, abs=1.0)
    assert leave.t == pytest.approx(T0 + 0.55 * 240, abs=1.0)


def test_no_crossing_is_inferred_across_a_long_silence() -> None:
    """Half an hour without a fix (no coverage, or the live fix sent before the backlog): the
    straight line between the two fixes is not where the truck went."""
    zone = zone_at("R1", "restricted_area", 100_000, 500)
    tr = Track().add(T0, 95_000).add(T0 + 1800, 105_000)
    obs, _ = run([tr], [zone])
    assert kinds(obs) == []


def test_border_checkpoint_also_gives_checkpoint_kinds() -> None:
    zone = zone_at("CP", "border_checkpoint", 1_000, 800)
    tr = Track().add(T0, 1_000).add(T0 + 60, 2_000).add(T0 + 120, 3_000)
    obs, _ = run([tr], [zone])
    assert kinds(obs) == ["checkpoint_enter", "zone_enter", "checkpoint_exit", "zone_exit"]
    assert obs[0].t == obs[1].t == T0 and obs[2].t == obs[3].t == T0 + 60  # first fix outside
    assert all(o.evidence["zone_kind"] == "border_checkpoint" for o in obs)


def stop_track(along_m: float, minutes: int = 10) -> Track:
    tr = Track()
    for i in range(5):
        tr.add(T0 + 60 * i, along_m - 5_000 + 1_000 * i)
    t = T0 + 300
    for i in range(minutes + 1):  # parked: speed 0 for `minutes` minutes
        tr.add(t := T0 + 300 + 60 * i, along_m, 0.0, speed=0.0)
    for i in range(1, 4):
        tr.add(t + 60 * i, along_m + 1_000 * i)
    return tr


def test_ten_minute_stop_outside_zones_is_unauthorized() -> None:
    tr = stop_track(200_000)
    obs, _ = run([tr], [zone_at("FAR", "authorized_stop", 150_000, 500)])
    assert kinds(obs) == ["stop_start", "stop_end"]
    start, end = obs
    assert start.t == T0 + 300 + 300 and start.evidence == {"started_at": T0 + 300, "authorized": False}
    assert end.t == T0 + 300 + 600 + 60
    assert end.evidence["duration_s"] == 660 and end.evidence["authorized"] is False


def test_stop_inside_authorized_stop_zone_is_authorized() -> None:
    tr = stop_track(200_000)
    obs, _ = run([tr], [zone_at("PARK", "authorized_stop", 200_000, 300)])
    stops = [o for o in obs if o.kind.startswith("stop_")]
    assert [o.kind for o in stops] == ["stop_start", "stop_end"]
    assert stops[0].evidence["authorized"] is True and stops[1].evidence["authorized"] is True


def test_short_slow_period_is_not_a_stop() -> None:
    obs, _ = run([stop_track(200_000, minutes=4)])
    assert "stop_start" not in kinds(obs)


@pytest.mark.parametrize("chunk", [None, 1])
def test_a_slow_fix_kilometres_from_the_stop_after_a_silence_ends_it(chunk: int | None) -> None:
    """Parked 10 minutes, silent 40, then standing 4 km further on: the truck drove in between,
    so the first stop ended and the new one starts afresh (it is not 55 minutes long)."""
    tr = stop_track(200_000)
    tr.t, tr.lat, tr.lon, tr.speed = tr.t[:-3], tr.lat[:-3], tr.lon[:-3], tr.speed[:-3]  # no moving fix
    back = tr.t[-1] + 40 * 60
    for i in range(8):  # 7 minutes standing at the new place, then on
        tr.add(back + 60 * i, 204_000, speed=0.0)
    tr.add(back + 8 * 60, 205_000)
    obs, _ = run([tr], chunk=chunk)
    stops = [o for o in obs if o.kind.startswith("stop_")]
    assert [(o.kind, o.t) for o in stops] == [
        ("stop_start", T0 + 600),
        ("stop_end", back),
        ("stop_start", back + 300),
        ("stop_end", back + 480),
    ]
    assert stops[2].evidence["started_at"] == back and stops[3].evidence["duration_s"] == 480


def test_gps_scatter_of_a_parked_truck_does_not_end_its_stop() -> None:
    tr = stop_track(200_000, minutes=20)
    for i in (8, 9, 14):  # multipath: fixes a few hundred metres off, and back
        lat, lon = at(200_000 + 300, 250 if i == 9 else -150)
        tr.lat[5 + i], tr.lon[5 + i] = lat, lon
    obs, _ = run([tr])
    assert kinds(obs) == ["stop_start", "stop_end"]


def test_missing_speed_uses_implied_speed() -> None:
    tr = stop_track(200_000)
    tr.speed = [math.nan] * len(tr.t)  # no reported speed: parked fixes imply 0 km/h
    obs, _ = run([tr])
    assert kinds(obs) == ["stop_start", "stop_end"]


def test_jump_of_50_km_in_10_s_is_flagged_and_does_not_poison_the_next_fix() -> None:
    tr = Track().add(T0, 10_000).add(T0 + 10, 10_200).add(T0 + 20, 60_000).add(T0 + 30, 10_500)
    tr.add(T0 + 40, 10_700)
    obs, engine = run([tr])
    assert kinds(obs) == ["jump"]
    j = obs[0]
    assert j.t == T0 + 20 and j.evidence["prev_t"] == T0 + 10
    assert j.evidence["distance_m"] > 40_000  # 49.8 km along a bending road
    assert j.evidence["implied_speed_kmh"] == pytest.approx(j.evidence["distance_m"] / 10 * 3.6)
    assert engine.stats.jumps == 1


def test_gps_scatter_between_fixes_a_fraction_of_a_second_apart_is_not_a_jump() -> None:
    # 60 m of scatter in 0.25 s implies 864 km/h; a 40 km leap at the same pace still is a jump.
    tr = Track()
    for i in range(40):
        tr.add(T0 + 0.25 * i, 10_000 + 5 * i, offset_m=30.0 if i % 2 else -30.0)
    tr.add(T0 + 10, 10_200, offset_m=40_000)
    obs, engine = run([tr])
    assert kinds(obs) == ["jump"]
    assert obs[0].t == T0 + 10
    assert engine.stats.jumps == 1


def test_arrival_once() -> None:
    dest_lat, dest_lon = PLACES["AZBAK"].lat, PLACES["AZBAK"].lon
    zone = ZoneSpec.circle("AZBAK", "customs_office", dest_lon, dest_lat, 1_000)
    end = LINE.length
    tr = Track()
    for i, along in enumerate([end - 5_000, end - 2_000, end - 200, end - 100, end - 3_000, end - 150]):
        tr.add(T0 + 120 * i, along)
    trs = [transit(dest="AZBAK", deadline=T0 + 300)]
    obs, _ = run([tr], [zone], trs)
    arrivals = [o for o in obs if o.kind == "arrival"]
    assert len(arrivals) == 1
    assert arrivals[0].t == T0 + 240 and arrivals[0].zone_code == "AZBAK"
    assert arrivals[0].evidence == {"deadline": T0 + 300, "late": False}
    assert kinds(obs).count("zone_enter") == 2  # it did enter twice; arrival is still once


def test_out_of_order_late_fix_changes_nothing() -> None:
    tr = Track()
    for i in range(10):
        tr.add(T0 + 30 * i, 50_000 + 600 * i)
    engine = Engine()
    engine.set_transits([transit()])
    assert engine.process(tr.batch()) == []
    lat, lon = at(52_000, 2_500)  # outside the corridor, and older than what was processed
    late = make_batch([SEAL, SEAL], [T0 + 100, T0 + 270], [lat, lat], [lon, lon])
    assert engine.process(late) == []
    assert engine.stats.stale == 2
    # The late fix must not count towards an out run: three real out fixes 60 s apart are needed.
    nxt = Track()
    nxt.add(T0 + 360, 56_000, 2_500).add(T0 + 420, 56_600, 2_500)
    assert engine.process(nxt.batch()) == []


def test_duplicate_time_keeps_first_fix_in_batch_order() -> None:
    engine = Engine(EngineConfig(exit_min_fixes=1, exit_min_seconds=0, jump_max_kmh=1e6))
    engine.set_transits([transit()])
    lat_out, lon_out = at(50_000, 9_000)
    lat_in, lon_in = at(50_000)
    obs = engine.process(make_batch([SEAL, SEAL], [T0, T0], [lat_in, lat_out], [lon_in, lon_out]))
    assert obs == [] and engine.stats.duplicate == 1
    obs = engine.process(make_batch([SEAL, SEAL], [T0 + 60, T0 + 60], [lat_out, lat_in], [lon_out, lon_in]))
    assert kinds(obs) == ["corridor_exit"]


def test_unknown_seals_are_ignored_and_counted() -> None:
    engine = Engine()
    engine.set_transits([transit()])
    lat, lon = at(10_000, 50_000)
    assert engine.process(make_batch(["NOPE", "NOPE"], [T0, T0 + 1], [lat, lat], [lon, lon])) == []
    assert engine.stats.unknown == 2 and engine.stats.processed == 0


def full_scenario() -> tuple[list[Track], list[ZoneSpec]]:
    a = Track(seal="AZS-A")
    t = T0
    for i in range(15):
        a.add(t := T0 + 40 * i, 20_000 + 800 * i)
    for i, off in enumerate([1500, 3000, 4000, 4000, 4000, 3000, 1500]):
        a.add(t := t + 40, 32_000 + 800 * i, off)
    for i in range(12):
        a.add(t := t + 40, 37_000 + 800 * i)
    for _ in range(9):
        a.add(t := t + 60, 46_600, 0, speed=0.5)
    a.add(t + 20, 46_600 + 5_000)  # jump
    for i in range(8):
        a.add(t := t + 240, 47_000 + 9_000 * i)  # sparse: segments cross zones
    b = stop_track(120_000)
    b.seal = "AZS-B"
    zones = [
        zone_at("Z1", "restricted_area", 80_000, 600),
        zone_at("Z2", "border_checkpoint", 28_000, 1500),
        zone_at("Z3", "authorized_stop", 120_000, 400),
    ]
    return [a, b], zones


@pytest.mark.parametrize("chunk", [None, 7, 3, 1])
def test_state_carries_across_batches(chunk: int | None) -> None:
    tracks, zones = full_scenario()
    whole, _ = run(tracks, zones)
    assert {"corridor_exit", "corridor_reentry", "stop_start", "stop_end", "jump", "zone_enter"} <= set(kinds(whole))
    split, _ = run(tracks, zones, chunk=chunk)
    assert_same_observations(split, whole)


def test_refresh_with_same_specs_is_idempotent_and_new_transit_resets() -> None:
    tracks, zones = full_scenario()
    whole, _ = run(tracks, zones)
    engine = Engine()
    specs = [transit(tr.seal, f"T-{tr.seal}") for tr in tracks]
    engine.set_transits(specs)
    engine.set_zones(zones)
    rows = sorted(
        (t, tr.seal, la, lo, sp) for tr in tracks for t, la, lo, sp in zip(tr.t, tr.lat, tr.lon, tr.speed, strict=True)
    )
    got: list[Observation] = []
    for i in range(0, len(rows), 5):
        part = rows[i : i + 5]
        got += engine.process(make_batch([r[1] for r in part], [r[0] for r in part], [r[2] for r in part],
                                         [r[3] for r in part], [r[4] for r in part]))  # fmt: skip
        engine.set_transits(list(reversed(specs)))  # same transits, other slots
        engine.set_zones(list(reversed(zones)))
    assert_same_observations(sorted(got, key=Observation.sort_key), whole)

    # A new transit id for a seal starts from scratch: the next out fixes are a fresh run.
    engine.set_transits([transit("AZS-A", "T-NEW")])
    assert engine.state_nbytes() > 0
    assert not engine._state.outside.any() and np.isnan(engine._state.pt).all()


def test_corridor_polygon_matches_distance_rule() -> None:
    engine = Engine()
    engine.set_transits([transit()])
    poly = engine.corridor_polygon("T-1")
    assert shapely.area(poly) == pytest.approx(LINE.length * 2 * WIDTH, rel=0.02)
    with pytest.raises(KeyError):
        engine.corridor_polygon("nope")


def test_two_transits_for_one_seal_are_rejected() -> None:
    with pytest.raises(ValueError, match="two active transits"):
        Engine().set_transits([transit(tid="A"), transit(tid="B")])


def test_slot_index_exact_for_unknown_long_and_non_ascii_ids() -> None:
    ids = ["AZS-0000001", "AZS-0000002", "Ωseal-é", "x"]
    index = SlotIndex(ids)
    query = np.array(["x", "AZS-0000002", "AZS-00000021", "AZS-000000", "Ωseal-é", "nope", "AZS-0000001"], dtype=object)
    assert index.lookup(query).tolist() == [3, 1, -1, -1, 2, -1, 0]
    assert SlotIndex([]).lookup(query).tolist() == [-1] * 7


def test_slot_index_resolves_key_collisions_exactly() -> None:
    def constant_keys(words: np.ndarray) -> np.ndarray:
        return np.zeros(words.shape[0], dtype=np.uint64)  # every id collides

    with patch.object(geofence.slots, "_keys", constant_keys):
        ids = [f"S{i}" for i in range(20)]
        index = SlotIndex(ids)
        query = np.array(["S7", "S19", "S0", "S20", "zzz"], dtype=object)
        assert index.lookup(query).tolist() == [7, 19, 0, -1, -1]


def test_invalid_zone_polygon_is_rejected() -> None:
    bow_tie = [(46.0, 40.0), (46.1, 40.1), (46.1, 40.0), (46.0, 40.1)]
    with pytest.raises(ValueError, match="invalid zone"):
        Engine().set_zones([ZoneSpec("BAD", "restricted_area", bow_tie)])
