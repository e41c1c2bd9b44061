"""Alerts found late: a backlog judged in time order raises what it reveals, once.

The service gets what the engine's late path hands it (``geofence.late.Rejudged``: the seal's
fixes and the in-order observations); the end-to-end path through MQTT and ingest is in
``test_late_e2e``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from alerts.late import Episode, Known, episodes, overlapping
from alerts.model import Condition
from alerts.service import AlertService
from geofence.late import Rejudged
from geofence.model import Observation
from sealwatch.fixes import FixRecord
from tests.alerts.conftest import Clock, at, fix, insert_transit, obs, rows


def _rejudged(
    tr_seal: str, tr_id: str, late_s: float, since_s: float, fixes: list[FixRecord], observations: list[Observation]
) -> Rejudged:
    return Rejudged(tr_seal, tr_id, at(late_s).timestamp(), at(since_s).timestamp(), fixes, observations, [])


def _track(
    seal_id: str, until_s: int, state: Mapping[int, str] | None = None, battery: Mapping[int, float] | None = None
) -> list[FixRecord]:
    state, battery = state or {}, battery or {}
    return [
        fix(seal_id, s, state=state.get(s, "closed"), battery=battery.get(s, 90.0)) for s in range(0, until_s + 1, 30)
    ]


async def test_a_deviation_only_the_backlog_shows_is_raised_late_and_stamped_when_it_happened(
    migrated_db: str, service: AlertService, clock: Clock
) -> None:
    tr = insert_transit(migrated_db, 1)
    await service.on_batch([fix(tr.seal_id, 0), fix(tr.seal_id, 3000)], [])  # the live fix after the gap
    seen = [
        obs(tr.seal_id, tr.transit_id, "corridor_exit", 1200, distance_m=7000.0),
        obs(tr.seal_id, tr.transit_id, "corridor_reentry", 2400, distance_m=10.0),
    ]
    events = await service.on_batch(
        [], [], late=[_rejudged(tr.seal_id, tr.transit_id, 30, 0, _track(tr.seal_id, 3000), seen)]
    )
    [a] = rows(migrated_db, "SELECT * FROM alerts")
    assert (a["type"], a["late"], a["first_t"], a["raised_at"]) == ("route_deviation", True, at(1200), at(1200))
    assert a["detected_at"] == clock.now and a["status"] == "open"
    assert a["evidence"]["cleared"] is True and a["evidence"]["cleared_t"] == at(2400).timestamp()
    [ev] = events  # what SSE and the stream carry
    assert ev.change == "raised" and ev.alert["late"] is True and ev.alert["detected_at"] == clock.now.isoformat()
    # The same backlog judged again (a redelivery, a restart) raises nothing more.
    again = await service.on_batch(
        [], [], late=[_rejudged(tr.seal_id, tr.transit_id, 30, 0, _track(tr.seal_id, 3000), seen)]
    )
    assert again == [] and len(rows(migrated_db, "SELECT id FROM alerts")) == 1


async def test_an_episode_already_raised_live_is_not_raised_again(migrated_db: str, service: AlertService) -> None:
    tr = insert_transit(migrated_db, 2)
    live = [
        obs(tr.seal_id, tr.transit_id, "corridor_exit", 1300, distance_m=3000.0),
        obs(tr.seal_id, tr.transit_id, "corridor_reentry", 2400, distance_m=10.0),
    ]
    await service.on_batch([fix(tr.seal_id, 0), fix(tr.seal_id, 2400)], live)
    [a] = rows(migrated_db, "SELECT id, status, first_t FROM alerts")
    assert a["status"] == "resolved"
    # The backlog shows the same trip began earlier: same alert, dated back; no second one.
    backlog = [obs(tr.seal_id, tr.transit_id, "corridor_exit", 1200, distance_m=3000.0), live[1]]
    await service.on_batch(
        [], [], late=[_rejudged(tr.seal_id, tr.transit_id, 600, 0, _track(tr.seal_id, 2400), backlog)]
    )
    [b] = rows(migrated_db, "SELECT id, first_t, late FROM alerts")
    assert (b["id"], b["first_t"], b["late"]) == (a["id"], at(1200), False)


async def test_an_opening_in_the_backlog_is_judged_against_the_seal_state_of_its_time(
    migrated_db: str, service: AlertService
) -> None:
    tr = insert_transit(migrated_db, 3)
    await service.on_batch([fix(tr.seal_id, 0), fix(tr.seal_id, 3000)], [])
    # Opened at 900, closed again at 1500: the live fix (closed) never showed it.
    states = {s: "opened" for s in range(900, 1500, 30)}
    battery = {s: 8.0 for s in range(1800, 2400, 30)}
    track = _track(tr.seal_id, 3000, state=states, battery=battery)
    await service.on_batch([], [], late=[_rejudged(tr.seal_id, tr.transit_id, 30, 0, track, [])])
    got = {(a["type"], a["severity"], a["first_t"], a["late"]) for a in rows(migrated_db, "SELECT * FROM alerts")}
    assert got == {("seal_opened", "critical", at(900), True), ("low_battery", "critical", at(1800), True)}


def test_episodes_group_raises_until_their_clear_and_skip_what_was_judged_live() -> None:
    def c(kind: str, action: str, t: float, severity: str = "warning") -> Condition:
        return Condition(kind, action, "T", "S", t, 40.0, 47.0, severity)  # type: ignore[arg-type]

    got = episodes(
        [
            c("route_deviation", "raise", 5),  # before the backlog: judged live
            c("route_deviation", "clear", 8),
            c("unauthorized_stop", "raise", 20),
            c("unauthorized_stop", "raise", 30, "critical"),
            c("unauthorized_stop", "clear", 40),
            c("gps_jump", "raise", 50),
            c("signal_lost", "raise", 60),  # timers are not the late path's
            c("seal_opened", "raise", 70, "critical"),
        ],
        since=10,
    )
    assert [(e.type, e.start, e.end, e.severity, e.raises) for e in got] == [
        ("unauthorized_stop", 20, 40, "critical", 2),
        ("gps_jump", 50, 50, "warning", 1),
        ("seal_opened", 70, None, "critical", 1),
    ]
    ep = Episode("route_deviation", "T", "S", 100, 100, None, None, "warning", end=200)
    assert overlapping(ep, [Known(1, 0, "resolved", 50, 99)]) is None  # ended before
    assert overlapping(ep, [Known(1, 0, "resolved", 150, None)]) is not None  # resolved by hand at its last
    assert overlapping(ep, [Known(2, 150, "open", 150, None)]) is not None  # still open
    assert overlapping(ep, [Known(3, 201, "open", 300, None)]) is None  # began after it ended


async def test_a_critical_alert_found_late_escalates_from_when_it_was_found(
    migrated_db: str, service: AlertService, clock: Clock
) -> None:
    """Raised hours after its event, an opening gets the operators' full acknowledgement window."""
    tr = insert_transit(migrated_db, 4)
    await service.on_batch([fix(tr.seal_id, 0), fix(tr.seal_id, 3000)], [])
    states = {s: "opened" for s in range(900, 1500, 30)}
    await service.on_batch(
        [], [], late=[_rejudged(tr.seal_id, tr.transit_id, 30, 0, _track(tr.seal_id, 3000, states), [])]
    )
    [a] = rows(migrated_db, "SELECT raised_at, detected_at FROM alerts WHERE type = 'seal_opened'")
    found = a["detected_at"]
    assert a["raised_at"] == at(900) and found == clock.now  # the event is long past the escalation delay

    async def escalated(after: timedelta) -> list[str]:
        return [e.type for e in await service.tick(found + after) if e.change == "escalated"]

    assert await escalated(timedelta(minutes=4, seconds=59)) == []
    assert await escalated(timedelta(minutes=5, seconds=1)) == ["seal_opened"]
    [h] = rows(migrated_db, "SELECT detail FROM alert_events WHERE kind = 'escalated'")
    assert h["detail"]["unacknowledged_s"] == 301
