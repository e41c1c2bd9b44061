"""The operator lifecycle: open → acknowledged → dispatched (to a mobile group) → resolved.

Each step locks the alert row, checks the transition (illegal ones raise
:class:`AlertConflictError`, HTTP 409), stamps who/when on the alert, writes an ``alert_events``
row and a stream change, all in one transaction. Shortcuts that are legal: resolving from any
unresolved status, dispatching straight from open (the dispatcher has seen it), re-dispatching
to another group, and a group acknowledging an alert that was dispatched to it automatically.

The group dispatched to an alert has two steps of its own, recorded in the history while the
status stays ``dispatched``: it acknowledges the dispatch (it has the message), then reports that it
is on scene. Each may happen once per dispatch; a re-dispatch to another group starts them anew.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from alerts import dispatch as outbox
from alerts.briefing import AlertWords, english_words, truck_facts
from alerts.groups import GroupDistance, distance_m, suggest
from alerts.model import (
    SYSTEM,
    AlertConflictError,
    AlertEvent,
    AlertNotFoundError,
    AlertStatus,
    Outcome,
)
from alerts.settings import AlertSettings
from alerts.store import ALERT_COLUMNS, AnyConn, ChangeLog, Row, add_event, fetch_all, fetch_one, get_alert
from sealwatch.logging import get_logger

log = get_logger(__name__)

Action = Literal["acknowledge", "dispatch", "resolve"]


def next_status(action: Action, status: AlertStatus, acknowledged: bool) -> AlertStatus:
    """The status after ``action``; raises AlertConflictError when the step is illegal."""
    if status == "resolved":
        raise AlertConflictError(f"the alert is resolved: it cannot be {action}d")
    if action == "acknowledge":
        if status == "open":
            return "acknowledged"
        if status == "dispatched" and not acknowledged:
            return "dispatched"
        raise AlertConflictError(f"the alert is already {status}: it cannot be acknowledged again")
    if action == "dispatch":
        return "dispatched"
    return "resolved"


async def _locked(conn: AnyConn, alert_id: int) -> Row:
    row = await get_alert(conn, alert_id, lock=True)
    if row is None:
        raise AlertNotFoundError(f"alert {alert_id} does not exist")
    return row


async def _update(conn: AnyConn, alert_id: int, sets: str, params: dict[str, object]) -> Row:
    row = await fetch_one(
        conn,
        f"UPDATE alerts a SET {sets}, updated_at = %(at)s WHERE a.id = %(id)s RETURNING {ALERT_COLUMNS}",
        {**params, "id": alert_id},
    )
    assert row is not None
    return row


async def acknowledge(
    conn: AnyConn, alert_id: int, actor: str, *, at: datetime | None = None, comment: str = ""
) -> tuple[Row, list[AlertEvent]]:
    at = at or datetime.now(UTC)
    changes = ChangeLog()
    async with conn.transaction():
        row = await _locked(conn, alert_id)
        before = row["status"]
        to = next_status("acknowledge", before, row["acknowledged_at"] is not None)
        row = await _update(
            conn,
            alert_id,
            "status = %(to)s, acknowledged_at = %(at)s, acknowledged_by = %(actor)s",
            {"to": to, "at": at, "actor": actor},
        )
        await add_event(conn, alert_id, "acknowledged", before, to, actor, at, {"comment": comment})
        changes.add("acknowledged", row)
        events = await changes.flush(conn)
    log.info("alert acknowledged", alert_id=alert_id, actor=actor)
    return row, events


async def _since_dispatch(conn: AnyConn, alert_id: int, kind: str) -> bool:
    """Whether a ``kind`` step was recorded after the alert's latest dispatch."""
    row = await fetch_one(
        conn,
        """SELECT 1 AS x FROM alert_events e WHERE e.alert_id = %(id)s AND e.kind = %(kind)s
             AND e.id > (SELECT COALESCE(max(d.id), 0) FROM alert_events d
                         WHERE d.alert_id = %(id)s AND d.kind = 'dispatched')""",
        {"id": alert_id, "kind": kind},
    )
    return row is not None


async def group_step(
    conn: AnyConn,
    alert_id: int,
    step: Literal["acknowledged", "on_scene"],
    actor: str,
    *,
    at: datetime | None = None,
    comment: str = "",
) -> tuple[Row, list[AlertEvent]]:
    """The dispatched group acknowledges the dispatch, or reports it is on scene (status stays dispatched).

    An automatic dispatch nobody had acknowledged is acknowledged by the group's step."""
    at = at or datetime.now(UTC)
    changes = ChangeLog()
    async with conn.transaction():
        row = await _locked(conn, alert_id)
        if row["status"] != "dispatched":
            raise AlertConflictError(f"the alert is {row['status']}: only a dispatched alert has a group step")
        if await _since_dispatch(conn, alert_id, step):
            raise AlertConflictError(f"the group already reported {step.replace('_', ' ')} for this dispatch")
        if step == "on_scene" and not await _since_dispatch(conn, alert_id, "acknowledged"):
            await add_event(conn, alert_id, "acknowledged", "dispatched", "dispatched", actor, at, {})
        sets = "updated_at = %(at)s"
        if row["acknowledged_at"] is None:
            sets += ", acknowledged_at = %(at)s, acknowledged_by = %(actor)s"
        new = await fetch_one(
            conn,
            f"UPDATE alerts a SET {sets} WHERE a.id = %(id)s RETURNING {ALERT_COLUMNS}",
            {"at": at, "actor": actor, "id": alert_id},
        )
        assert new is not None
        detail = {"comment": comment, "group_id": row["group_id"]}
        await add_event(conn, alert_id, step, "dispatched", "dispatched", actor, at, detail)
        changes.add(step, new)
        events = await changes.flush(conn)
    log.info("group step", alert_id=alert_id, step=step, actor=actor)
    return new, events


async def resolve(
    conn: AnyConn, alert_id: int, outcome: Outcome, actor: str, *, comment: str = "", at: datetime | None = None
) -> tuple[Row, list[AlertEvent]]:
    at = at or datetime.now(UTC)
    changes = ChangeLog()
    async with conn.transaction():
        row = await _locked(conn, alert_id)
        before = row["status"]
        next_status("resolve", before, row["acknowledged_at"] is not None)
        row = await resolve_locked(conn, row, outcome, actor, at, comment, changes)
        events = await changes.flush(conn)
    log.info("alert resolved", alert_id=alert_id, actor=actor, outcome=outcome, before=before)
    return row, events


async def resolve_locked(
    conn: AnyConn,
    row: Row,
    outcome: Outcome,
    actor: str,
    at: datetime,
    comment: str,
    changes: ChangeLog,
    detail: dict[str, object] | None = None,
) -> Row:
    """Resolve a row the caller has locked (inside the caller's transaction)."""
    before = row["status"]
    new = await _update(
        conn,
        row["id"],
        "status = 'resolved', resolved_at = %(at)s, resolved_by = %(actor)s, outcome = %(outcome)s, comment = %(c)s",
        {"at": at, "actor": actor, "outcome": outcome, "c": comment},
    )
    await add_event(
        conn,
        row["id"],
        "resolved",
        before,
        "resolved",
        actor,
        at,
        {"outcome": outcome, "comment": comment, **(detail or {})},
    )
    changes.add("resolved", new)
    return new


async def dispatch(
    conn: AnyConn,
    alert_id: int,
    actor: str,
    settings: AlertSettings,
    *,
    group_id: str | None = None,
    at: datetime | None = None,
    words: AlertWords = english_words,
) -> tuple[Row, list[AlertEvent]]:
    """Send the alert to ``group_id``, or to the nearest available group when None."""
    at = at or datetime.now(UTC)
    changes = ChangeLog()
    async with conn.transaction():
        row = await _locked(conn, alert_id)
        next_status("dispatch", row["status"], row["acknowledged_at"] is not None)
        group = await choose_group(conn, row, settings, at, group_id)
        row = await dispatch_locked(conn, row, group, actor, at, settings, changes, words)
        events = await changes.flush(conn)
    return row, events


async def choose_group(
    conn: AnyConn, row: Row, settings: AlertSettings, at: datetime, group_id: str | None
) -> GroupDistance:
    if group_id is not None:
        g = await fetch_one(
            conn,
            "SELECT group_id, name, lat, lon, available, updated_at FROM mobile_groups WHERE group_id = %s",
            (group_id,),
        )
        if g is None:
            raise AlertNotFoundError(f"mobile group {group_id!r} does not exist")
        d = None if row["lat"] is None else distance_m(row["lat"], row["lon"], g["lat"], g["lon"])
        return GroupDistance(g["group_id"], g["name"], g["lat"], g["lon"], g["available"], g["updated_at"], d or 0.0)
    if row["lat"] is None or row["lon"] is None:
        raise AlertConflictError("the alert has no position: choose a group explicitly")
    ranked = await suggest(conn, row["lat"], row["lon"], at, settings.group_stale_after_s)
    if not ranked:
        raise AlertConflictError("no mobile group is available")
    return ranked[0]


async def dispatch_locked(
    conn: AnyConn,
    row: Row,
    group: GroupDistance,
    actor: str,
    at: datetime,
    settings: AlertSettings,
    changes: ChangeLog,
    words: AlertWords = english_words,
) -> Row:
    """Dispatch a row the caller has locked: alert update, history, outbox message, stream change."""
    before = row["status"]
    # A human dispatching has seen the alert, which acknowledges it; the system has not.
    ack = (
        ""
        if actor == SYSTEM
        else ", acknowledged_at = coalesce(a.acknowledged_at, %(at)s),"
        " acknowledged_by = coalesce(a.acknowledged_by, %(actor)s)"
    )
    new = await _update(
        conn,
        row["id"],
        "status = 'dispatched', dispatched_at = %(at)s, dispatched_by = %(actor)s, group_id = %(g)s" + ack,
        {"at": at, "actor": actor, "g": group.group_id},
    )
    topic = outbox.group_topic(settings.group_topic_prefix, group.group_id)
    truck = (await truck_facts(conn, [new["transit_id"]])).get(new["transit_id"])
    payload = outbox.dispatch_payload(new, group.group_id, actor, at, group.distance_m, truck, words)
    outbox_id = await outbox.enqueue(conn, row["id"], topic, payload)
    await add_event(
        conn,
        row["id"],
        "dispatched",
        before,
        "dispatched",
        actor,
        at,
        {
            "group_id": group.group_id,
            "distance_m": round(group.distance_m),
            "outbox_id": outbox_id,
            "previous_group": row["group_id"],
        },
    )
    changes.add("dispatched", new)
    log.info("alert dispatched", alert_id=row["id"], group_id=group.group_id, actor=actor)
    return new


async def escalate_due(conn: AnyConn, now: datetime, settings: AlertSettings) -> list[AlertEvent]:
    """Escalate critical alerts nobody acknowledged within ``escalate_after_s`` of being found (an
    alert found late in a backlog counts from then, not from its event)."""
    changes = ChangeLog()
    async with conn.transaction():
        rows = await fetch_all(
            conn,
            f"""SELECT {ALERT_COLUMNS} FROM alerts a
                WHERE a.severity = 'critical' AND a.acknowledged_at IS NULL AND a.escalated_at IS NULL
                  AND a.status <> 'resolved' AND a.detected_at <= %s
                ORDER BY a.id FOR UPDATE SKIP LOCKED""",
            (now - timedelta(seconds=settings.escalate_after_s),),
        )
        for row in rows:
            new = await _update(conn, row["id"], "escalated_at = %(at)s", {"at": now})
            waited = (now - row["detected_at"]).total_seconds()
            await add_event(
                conn,
                row["id"],
                "escalated",
                row["status"],
                row["status"],
                SYSTEM,
                now,
                {"unacknowledged_s": round(waited)},
            )
            changes.add("escalated", new)
        events = await changes.flush(conn)
    if events:
        log.warning("alerts escalated", count=len(events), ids=[e.alert_id for e in events])
    return events


async def history(conn: AnyConn, alert_id: int) -> list[Row]:
    return await fetch_all(
        conn,
        "SELECT id, kind, from_status, to_status, actor, at, detail FROM alert_events WHERE alert_id = %s ORDER BY id",
        (alert_id,),
    )
