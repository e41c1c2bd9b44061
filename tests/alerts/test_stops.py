"""Stops the way trucks stop: stop areas, route tolerance, AETR breaks, jams, severity growth.

The pure tests run the rules with a real :class:`StopPolicy` fed with areas and slow seals; the
last ones run the whole path on the real database: fixes written as ingest writes them, the
geofence engine's stop observations, the alert service with the seeded stop areas and routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import psycopg
import pytest
from psycopg.rows import dict_row
from shapely.geometry import LineString

from alerts.dedup import MemoryBook
from alerts.model import Condition, TransitContext, TransitMemory
from alerts.rules import evaluate_batch
from alerts.service import AlertService
from alerts.settings import AlertSettings
from alerts.stops import StopPolicy
from customs.corridors import circle_polygon
from customs.routes import stop_area_polygon
from geofence import Engine, EngineConfig, Observation, TransitSpec
from geofence.live import store_observations, transit_specs, zone_specs
from geofence.projection import point_to_lonlat, point_to_metric, ring_to_metric
from sealwatch.fixes import FixBatch, FixRecord
from sealwatch.geography import ROUTES, STOP_AREAS, route_lonlat
from store.fixes import FixWriter
from store.migrate import storage_mode
from tests.alerts.conftest import T0, Clock, at, fix, insert_transit, obs, rows

SEAL, TRANSIT = "AZS-000001", "TR000001"
HERE = (40.45, 47.9)  # open road on the M2 between Yevlakh and Kurdamir: no stop area
MIN = 60.0


def settings(**kw: object) -> AlertSettings:
    return AlertSettings(**{"unauthorized_stop_min_s": 900.0, **kw})  # type: ignore[arg-type]


def fuel_station_policy(s: AlertSettings) -> StopPolicy:
    policy = StopPolicy(s)
    fuel = circle_polygon(HERE[0], HERE[1], 300)
    policy.set_areas([("F-TEST", "authorized_stop", "fuel_station", 3600.0, fuel)])
    return policy


class Truck:
    """One transit's rules run batch by batch into an in-memory alert book."""

    def __init__(self, s: AlertSettings, policy: StopPolicy | None = None, tolerance: float | None = None) -> None:
        self.s = s
        self.policy = policy if policy is not None else StopPolicy(s)
        self.ctx = TransitContext(
            transit_id=TRANSIT,
            status="active",
            deadline=(T0 + timedelta(hours=30)).timestamp(),
            released_at=(T0 - timedelta(hours=1)).timestamp(),
            office_destination="AZBAK",
            stop_tolerance_s=tolerance,
            stops=self.policy,
        )
        self.mem = TransitMemory()
        self.book = MemoryBook(s)
        self.conditions: list[Condition] = []

    def run(self, records: Sequence[FixRecord] = (), observations: Sequence[Observation] = ()) -> None:
        conds = evaluate_batch(records, observations, {SEAL: self.ctx}, {TRANSIT: self.mem}, self.s)
        self.book.apply(conds)
        self.conditions += conds

    def drive(self, start_s: float, end_s: float, every_s: float = 60.0) -> None:
        t = start_s
        while t <= end_s:
            self.run([fix(SEAL, t, speed=70.0, lat=HERE[0], lon=HERE[1])])
            t += every_s

    def stand(self, start_s: float, end_s: float, *, state: str = "closed", every_s: float = 60.0) -> None:
        """Slow fixes from start to end; the engine's stop_start 5 min in, stop_end at the first moving fix."""
        lat, lon = HERE
        started = at(start_s).timestamp()
        t = start_s
        while t <= end_s:
            observations = []
            if t == start_s + 5 * MIN:
                observations = [obs(SEAL, TRANSIT, "stop_start", t, lat=lat, lon=lon, started_at=started,
                                    authorized=False)]  # fmt: skip
            self.run([fix(SEAL, t, speed=0.0, lat=lat, lon=lon, state=state)], observations)
            t += every_s
        done = [obs(SEAL, TRANSIT, "stop_end", t, lat=lat, lon=lon, started_at=started,
                    duration_s=t - start_s, authorized=False)]  # fmt: skip
        self.run([fix(SEAL, t, speed=50.0, lat=lat, lon=lon, state=state)], done)

    def raised(self) -> list[tuple[float, str]]:
        """(seconds after T0, severity) of each raise or severity change of the stop alert."""
        return [(c.t - T0.timestamp(), c.severity) for c in self.conditions if c.action == "raise"]


def test_a_short_stop_is_tolerated_and_a_long_one_alerts_at_the_route_tolerance() -> None:
    truck = Truck(settings(), tolerance=20 * MIN)
    truck.drive(0, 30 * MIN)
    truck.stand(31 * MIN, 45 * MIN)  # 14 min: a roadside halt
    assert truck.book.alerts == []
    truck.drive(47 * MIN, 60 * MIN)
    truck.stand(61 * MIN, 100 * MIN)  # 39 min: the route tolerates 20
    [alert] = truck.book.alerts
    assert alert.type == "unauthorized_stop" and alert.severity == "warning"
    assert truck.raised()[0] == (82 * MIN, "warning")  # the first fix after 20 minutes
    assert alert.evidence["allowed_s"] == 20 * MIN and alert.evidence["duration_s"] == 21 * MIN


def test_severity_grows_with_duration() -> None:
    truck = Truck(settings(unauthorized_stop_critical_after_s=3600.0))
    truck.drive(0, 10 * MIN)
    truck.stand(11 * MIN, 120 * MIN)
    assert truck.raised() == [(27 * MIN, "warning"), (87 * MIN, "critical")]
    [alert] = truck.book.alerts
    assert alert.severity == "critical" and alert.count == 2


def test_a_stop_with_the_seal_opened_is_critical_at_once() -> None:
    truck = Truck(settings(), policy=fuel_station_policy(settings()))
    truck.drive(0, 10 * MIN)
    truck.stand(11 * MIN, 20 * MIN, state="opened")  # even 9 minutes, even at a fuel station
    stop_raises = [c for c in truck.conditions if c.type == "unauthorized_stop" and c.action == "raise"]
    assert [(c.severity, c.t - T0.timestamp()) for c in stop_raises] == [("critical", 16 * MIN)]
    assert stop_raises[0].evidence["seal_state"] == "opened" and stop_raises[0].evidence["area"] == "F-TEST"


def test_a_fuel_station_tolerates_its_limit() -> None:
    s = settings()
    truck = Truck(s, policy=fuel_station_policy(s))
    truck.drive(0, 10 * MIN)
    truck.stand(11 * MIN, 60 * MIN)  # 49 min refuelling and eating: fine
    assert truck.book.alerts == []
    truck.drive(62 * MIN, 80 * MIN)
    truck.stand(81 * MIN, 160 * MIN)  # 79 min: the station tolerates 60
    assert truck.raised() == [(142 * MIN, "warning")]


def test_the_aetr_break_after_four_and_a_half_hours_is_legitimate() -> None:
    truck = Truck(settings())
    truck.drive(0, 4.6 * 3600, every_s=120)
    start = 4.6 * 3600 + 60
    truck.stand(start, start + 44 * MIN)  # the 45-minute break (moving again at 45), by the roadside
    assert truck.book.alerts == []
    # The break reset the driving clock: the next roadside stop gets the route's 15 minutes again.
    truck.drive(start + 46 * MIN, start + 90 * MIN)
    truck.stand(start + 91 * MIN, start + 120 * MIN)
    assert [sev for _, sev in truck.raised()] == ["warning"]


def test_an_aetr_break_taken_a_little_before_it_is_due_is_legitimate() -> None:
    """Drivers stop for the break where they find a place, before the 4.5 hours are up."""
    truck = Truck(settings())
    truck.drive(0, 4.1 * 3600, every_s=120)
    start = 4.1 * 3600 + 60
    truck.stand(start, start + 44 * MIN)
    assert truck.book.alerts == []
    early = Truck(settings(stop_aetr_early_s=0.0))  # without the allowance: the route's 15 minutes
    early.drive(0, 4.1 * 3600, every_s=120)
    early.stand(start, start + 44 * MIN)
    assert [sev for _, sev in early.raised()] == ["warning"]


def test_a_stop_is_not_lengthened_by_sparse_reporting() -> None:
    """Fixes every 5 minutes: the last slow one 15 minutes into the stop (the route tolerates 15),
    the moving one 20 minutes in; the truck left somewhere in between."""
    truck = Truck(settings())
    truck.drive(0, 10 * MIN, every_s=300)
    truck.stand(15 * MIN, 30 * MIN, every_s=300)  # slow at 15, 20, 25, 30; moving again at 35
    assert truck.book.alerts == []


def test_a_silence_while_driving_counts_towards_the_aetr_break() -> None:
    """A 40-minute coverage hole on the road: the distance covered shows the truck drove through it."""
    truck = Truck(settings())
    step_km = 70 / 60  # 70 km/h, a fix a minute
    lat0, lon0 = HERE

    def at_km(km: float) -> tuple[float, float]:
        return lat0, lon0 + km / (111.32 * 0.766)  # along the parallel at 40°N

    km = 0.0
    for minute in range(0, 4 * 60 + 20):
        if 60 <= minute < 100:  # no coverage: nothing arrives
            km += step_km
            continue
        lat, lon = at_km(km)
        truck.run([fix(SEAL, minute * MIN, speed=70.0, lat=lat, lon=lon)])
        km += step_km
    assert truck.mem.seal(SEAL).drive_s >= 4.3 * 3600


def test_a_silence_while_driving_counts_towards_the_aetr_break_when_it_ends_at_a_halt() -> None:
    """The coverage hole ends where the driver has pulled over for a few minutes: the first fix
    heard is slow, but the 47 km covered in 40 minutes were driven all the same, and the break
    he takes at 4.3 hours of driving is his AETR break."""
    truck = Truck(settings())
    lat0, lon0 = HERE

    def at_km(km: float) -> tuple[float, float]:
        return lat0, lon0 + km / (111.32 * 0.766)  # along the parallel at 40°N

    km = 0.0
    for minute in range(0, 4 * 60 + 20):
        standing = 100 <= minute < 104
        if not 60 <= minute < 100:  # minutes 60 to 100: no coverage
            lat, lon = at_km(km)
            truck.run([fix(SEAL, minute * MIN, speed=0.0 if standing else 70.0, lat=lat, lon=lon)])
        km += 0.0 if standing else 70 / 60
    assert truck.mem.seal(SEAL).drive_s >= 4.2 * 3600
    start = (4 * 60 + 20) * MIN
    truck.stand(start, start + 44 * MIN)
    assert truck.book.alerts == []


def test_a_halt_then_a_silence_while_driving_is_no_aetr_break() -> None:
    """3.5 hours of driving, a 5-minute halt, 40 minutes of silence while driving 47 km, heard
    standing again: the engine ends the halt there (the truck moved), 46 minutes after it began.
    That was no 45-minute break, so the break taken at 4.4 hours of driving is the AETR break."""
    truck = Truck(settings())
    engine = Engine(EngineConfig())
    engine.set_transits([TransitSpec(TRANSIT, SEAL, route_lonlat(ROUTES["RBR-BAK"]), 2000.0)])
    line = LineString(ring_to_metric(route_lonlat(ROUTES["RBR-BAK"])))
    km, seq = 5.0, 0
    for minute in range(0, 330):
        standing = 210 <= minute < 216 or 256 <= minute < 259 or 274 <= minute < 319
        if not 216 <= minute < 256:  # no coverage in between
            p = line.interpolate(km * 1000)
            lon, lat = point_to_lonlat(p.x, p.y)
            record = fix(SEAL, minute * MIN, seq=seq, lat=lat, lon=lon, speed=0.0 if standing else 70.0)
            truck.run([record], engine.process(FixBatch.from_records([record])))
            seq += 1
        km += 0.0 if standing else 70 / 60
    assert truck.book.alerts == []
    assert truck.mem.seal(SEAL).drive_s < 20 * MIN  # the AETR break reset the clock


def test_a_break_longer_than_aetr_allows_still_alerts() -> None:
    truck = Truck(settings())
    truck.drive(0, 4.6 * 3600, every_s=120)
    start = 4.6 * 3600 + 60
    truck.stand(start, start + 60 * MIN)
    assert truck.raised() == [(start + 46 * MIN, "warning")]


def test_a_roadside_stop_before_aetr_is_due_gets_the_route_tolerance() -> None:
    truck = Truck(settings())
    truck.drive(0, 2 * 3600)
    truck.stand(2 * 3600 + 60, 2 * 3600 + 50 * MIN)
    assert truck.raised() == [(2 * 3600 + 17 * MIN, "warning")]


def jam(policy: StopPolicy, t_s: float, n: int, where: tuple[float, float] = HERE) -> None:
    """``n`` other seals stand within a few hundred metres, their latest fixes at ``t_s``."""
    x, y = point_to_metric(where[1], where[0])
    rows_ = []
    for i in range(n):
        lon, lat = point_to_lonlat(x + 150 * i, y - 100 * i)
        rows_.append((f"AZS-J{i}", at(t_s).timestamp(), lat, lon))
    policy.set_slow(rows_)


def stand_in_jam(truck: Truck, start_s: float, end_s: float, others: int, stop_start: bool = True) -> None:
    """The truck stands from start_s (stop_start 5 min in) with ``others`` seals standing around it."""
    started = at(start_s).timestamp()
    for t in range(int(start_s), int(end_s) + 1, 60):
        jam(truck.policy, t, others)
        o = [obs(SEAL, TRANSIT, "stop_start", t, lat=HERE[0], lon=HERE[1], started_at=started, authorized=False)]
        first = stop_start and t == start_s + 5 * MIN
        truck.run([fix(SEAL, t, speed=0.0, lat=HERE[0], lon=HERE[1])], o if first else [])


def test_a_jam_holds_the_stop_alert_back_while_it_lasts() -> None:
    truck = Truck(settings())
    truck.drive(0, 10 * MIN)
    stand_in_jam(truck, 11 * MIN, 131 * MIN, others=2)  # three trucks stand here for two hours
    assert truck.book.alerts == []
    assert truck.mem.stop is not None and truck.mem.stop.jam == 3
    # The others drive on; this one keeps standing: the queue's tail moves minutes after its head
    # (the jam window, 10 minutes), then 15 minutes more and it is a stop of its own.
    stand_in_jam(truck, 132 * MIN, 170 * MIN, others=0, stop_start=False)
    [(t, severity)] = truck.raised()
    assert severity == "warning" and 156 * MIN <= t <= 158 * MIN
    assert truck.book.alerts[0].evidence["jam_s"] >= 115 * MIN


def test_a_jam_does_not_hold_for_ever() -> None:
    s = settings(stop_jam_hold_max_s=3600.0)
    truck = Truck(s)
    truck.drive(0, 10 * MIN)
    stand_in_jam(truck, 11 * MIN, 200 * MIN, others=4)
    # One hour of jam is forgiven, then the route's 15 minutes: 11 + 60 + 15 = 86 minutes.
    assert truck.raised()[0] == (87 * MIN, "warning")


def test_a_jam_in_a_dead_zone_still_holds() -> None:
    """The others' last fixes stood here half an hour ago and they have been silent since: they
    stand in a place without coverage, the jam is still there."""
    truck = Truck(settings())
    truck.drive(0, 10 * MIN)
    for t in range(int(11 * MIN), int(60 * MIN) + 1, 60):
        jam(truck.policy, min(t, 20 * MIN), 2)  # seen standing up to minute 20, silent since
        started = at(11 * MIN).timestamp()
        o = [obs(SEAL, TRANSIT, "stop_start", t, lat=HERE[0], lon=HERE[1], started_at=started, authorized=False)]
        truck.run([fix(SEAL, t, speed=0.0, lat=HERE[0], lon=HERE[1])], o if t == 16 * MIN else [])
    assert truck.book.alerts == []
    strict = Truck(settings(stop_jam_silent_s=0.0))  # only fixes within the window count
    strict.drive(0, 10 * MIN)
    for t in range(int(11 * MIN), int(60 * MIN) + 1, 60):
        jam(strict.policy, min(t, 20 * MIN), 2)
        started = at(11 * MIN).timestamp()
        o = [obs(SEAL, TRANSIT, "stop_start", t, lat=HERE[0], lon=HERE[1], started_at=started, authorized=False)]
        strict.run([fix(SEAL, t, speed=0.0, lat=HERE[0], lon=HERE[1])], o if t == 16 * MIN else [])
    assert [sev for _, sev in strict.raised()] == ["warning"]


def test_trucks_parked_in_a_rest_area_nearby_are_not_a_jam() -> None:
    """Six trucks rest in a rest area 900 m up the road; this one stands 40 minutes on the
    shoulder outside it. They are parked off the road, not congestion: the stop alerts at the
    route's 15 minutes. Trucks standing in a border-queue area are on the road and still count."""
    x, y = point_to_metric(HERE[1], HERE[0])
    rest_lon, rest_lat = point_to_lonlat(x + 900, y)
    queue_lon, queue_lat = point_to_lonlat(x - 900, y)
    s = settings()

    def area_policy() -> StopPolicy:
        policy = StopPolicy(s)
        policy.set_areas([
            ("R-TEST", "authorized_stop", "rest_area", 43200.0, circle_polygon(rest_lat, rest_lon, 400)),
            ("Q-TEST", "authorized_stop", "border_queue", None, circle_polygon(queue_lat, queue_lon, 400)),
        ])  # fmt: skip
        return policy

    for where, raised in (((rest_lat, rest_lon), [(27 * MIN, "warning")]), ((queue_lat, queue_lon), [])):
        truck = Truck(s, area_policy())
        truck.drive(0, 10 * MIN)
        started = at(11 * MIN).timestamp()
        ax, ay = point_to_metric(where[1], where[0])
        others = [point_to_lonlat(ax + 40 * i, ay - 30 * i) for i in range(6)]  # all inside the area
        for t in range(int(11 * MIN), int(50 * MIN) + 1, 60):
            truck.policy.set_slow([(f"AZS-P{i}", at(t).timestamp(), la, lo) for i, (lo, la) in enumerate(others)])
            o = [obs(SEAL, TRANSIT, "stop_start", t, lat=HERE[0], lon=HERE[1], started_at=started, authorized=False)]
            truck.run([fix(SEAL, t, speed=0.0, lat=HERE[0], lon=HERE[1])], o if t == 16 * MIN else [])
        assert truck.raised() == raised, where


def test_two_seals_standing_together_are_not_a_jam() -> None:
    truck = Truck(settings())
    truck.drive(0, 10 * MIN)
    stand_in_jam(truck, 11 * MIN, 40 * MIN, others=1)  # one other truck: a meeting, not congestion
    assert truck.raised() == [(27 * MIN, "warning")]


# ---- the whole path on the database ----


class Pipeline:
    """Fixes as ingest writes them, the engine's observations, the alert service: minute by minute."""

    def __init__(self, url: str, service: AlertService) -> None:
        self.conn = psycopg.connect(url, row_factory=dict_row, autocommit=True)
        self.writer = FixWriter(self.conn, storage_mode(self.conn))
        self.engine = Engine()
        self.engine.set_zones(zone_specs(self.conn.execute("SELECT code, kind, geometry FROM zones").fetchall()))
        self.engine.set_transits(transit_specs(self.conn.execute(
            "SELECT transit_id, seal_id, route_line, corridor_width_m, office_destination, deadline, segment_widths"
            " FROM active_transits").fetchall()))  # fmt: skip
        self.service = service

    async def minute(self, records: list[FixRecord]) -> None:
        self.writer.write(records, [])
        observations = store_observations(self.conn, self.engine.process(FixBatch.from_records(records)))
        await self.service.on_batch(records, observations)

    def close(self) -> None:
        self.conn.close()


def place(x0: float, y0: float, dx: float, dy: float) -> tuple[float, float]:
    lon, lat = point_to_lonlat(x0 + dx, y0 + dy)
    return lat, lon


@pytest.mark.timeout(180)
async def test_a_jam_raises_nothing_while_a_lone_long_stop_and_nothing_in_the_border_queue(
    migrated_db: str, service: AlertService
) -> None:
    jammed = [insert_transit(migrated_db, n) for n in range(1, 5)]
    lone = insert_transit(migrated_db, 5)
    queued = insert_transit(migrated_db, 6)
    pipeline = Pipeline(migrated_db, service)
    x0, y0 = point_to_metric(HERE[1], HERE[0])
    queue = next(a for a in STOP_AREAS if a.code == "Q-RBR")
    _, qlat, qlon = stop_area_polygon(queue)
    far = place(x0, y0, 40_000, -5_000)
    try:
        for minute in range(0, 181):
            t = minute * MIN
            records = []
            for i, tr in enumerate(jammed):
                # Four trucks stand for two hours on the same kilometre of the M2, then drive on.
                lat, lon = place(x0, y0, 200 * i, 120 * i)
                speed = 0.0 if 10 <= minute < 130 else 60.0
                records.append(fix(tr.seal_id, t, lat=lat, lon=lon, speed=speed))
            # A lone truck stands 40 minutes on an empty road: that is a stop.
            records.append(fix(lone.seal_id, t, lat=far[0], lon=far[1], speed=0.0 if 10 <= minute < 50 else 60.0))
            # A truck queues for the Red Bridge crossing for three hours, in the queue area.
            records.append(fix(queued.seal_id, t, lat=qlat, lon=qlon, speed=0.0 if minute < 180 else 20.0))
            await pipeline.minute(records)
    finally:
        pipeline.close()
    alerts = rows(
        migrated_db, "SELECT transit_id, type, severity, evidence FROM alerts WHERE type = 'unauthorized_stop'"
    )
    assert [(a["transit_id"], a["severity"]) for a in alerts] == [(lone.transit_id, "warning")]
    assert alerts[0]["evidence"]["allowed_s"] == 900.0  # RBR-BAK tolerates 15 minutes
    # The engine did see every stop: these are judgements, not blind spots.
    stops = rows(migrated_db, "SELECT DISTINCT transit_id FROM observations WHERE kind = 'stop_start'")
    assert {s["transit_id"] for s in stops} == {tr.transit_id for tr in [*jammed, lone, queued]}


@pytest.mark.timeout(180)
async def test_a_seal_silent_through_the_end_of_its_jam_and_heard_standing_elsewhere_is_no_stop(
    migrated_db: str, service: AlertService
) -> None:
    """The seal falls silent in a jam; the jam clears, the truck drives 5 km and pulls over for a
    few minutes, where the seal is heard again. Both ends of the silence are slow fixes, but they
    are 5 km apart: the jam stop ended in the silence, and the new stop is minutes long."""
    jammed = [insert_transit(migrated_db, n) for n in range(1, 4)]
    ours = insert_transit(migrated_db, 4)
    pipeline = Pipeline(migrated_db, service)
    x0, y0 = point_to_metric(HERE[1], HERE[0])
    try:
        for minute in range(0, 121):
            t = minute * MIN
            records = []
            for i, tr in enumerate(jammed):  # an hour standing on the same kilometre, then on
                lat, lon = place(x0, y0, 200 * i, 120 * i)
                records.append(fix(tr.seal_id, t, lat=lat, lon=lon, speed=0.0 if 10 <= minute < 70 else 60.0))
            if minute < 40:
                lat, lon = place(x0, y0, 800, 480)
                records.append(fix(ours.seal_id, t, lat=lat, lon=lon, speed=0.0 if minute >= 12 else 60.0))
            elif minute >= 100:  # heard again, 5 km on: standing until minute 108, then driving
                lat, lon = place(x0, y0, 5_000, 3_000)
                records.append(fix(ours.seal_id, t, lat=lat, lon=lon, speed=0.0 if minute < 108 else 60.0))
            await pipeline.minute(records)
    finally:
        pipeline.close()
    assert rows(migrated_db, "SELECT id FROM alerts WHERE type = 'unauthorized_stop'") == []
    stops = rows(
        migrated_db,
        "SELECT kind, extract(epoch FROM t)::float8 AS t FROM observations WHERE transit_id = %s"
        " AND kind LIKE 'stop%%' ORDER BY t, kind",
        ours.transit_id,
    )
    assert [(s["kind"], s["t"] - T0.timestamp()) for s in stops] == [
        ("stop_start", 17 * MIN),
        ("stop_end", 100 * MIN),  # the jam stop, ended where the truck was heard again
        ("stop_start", 105 * MIN),
        ("stop_end", 108 * MIN),
    ]


@pytest.mark.timeout(180)
async def test_a_jam_stop_in_a_backlog_sent_first_is_judged_against_the_jam_of_its_time(
    migrated_db: str, service: AlertService, clock: Clock
) -> None:
    """Out of coverage in a jam, the seal sends its backlog first (in order, so the live rules judge
    it) half an hour after the jam cleared: the jam is in the stored fixes of that time, not in
    where the other trucks are now."""
    jammed = [insert_transit(migrated_db, n) for n in range(1, 4)]
    ours = insert_transit(migrated_db, 4)
    pipeline = Pipeline(migrated_db, service)
    x0, y0 = point_to_metric(HERE[1], HERE[0])
    backlog = []
    try:
        for minute in range(0, 121):
            t = minute * MIN
            clock.now = at(t)
            records = []
            for i, tr in enumerate(jammed):  # an hour standing on the same kilometre, then on
                lat, lon = place(x0, y0, 200 * i, 120 * i)
                records.append(fix(tr.seal_id, t, lat=lat, lon=lon, speed=0.0 if 10 <= minute < 70 else 60.0))
            lat, lon = place(x0, y0, 800, 480)
            mine = fix(ours.seal_id, t, lat=lat, lon=lon, speed=0.0 if 12 <= minute < 70 else 60.0)
            if 5 <= minute < 100:
                backlog.append(mine)  # no coverage: buffered
            else:
                records.append(mine)
            if minute == 100:
                records = backlog + records  # back in coverage: the backlog first, then the live fix
            await pipeline.minute(records)
    finally:
        pipeline.close()
    alerts = rows(migrated_db, "SELECT transit_id FROM alerts WHERE type = 'unauthorized_stop'")
    assert alerts == []
