"""Release into a monitored transit, arrival at the office of destination, and closing.

Release happens in one transaction: the declaration moves to released, the transit row gets its
route line, corridor and deadline, seals are assigned, and ``pg_notify('sealwatch_transits',
transit_id)`` is queued — PostgreSQL delivers it only if that transaction commits, so the
geofence engine never hears of a transit that was rolled back.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from pydantic import BaseModel

from customs import inventory
from customs.corridors import corridor_polygon, line_geojson, line_length_m
from customs.db import AnyConnection, Db, as_db, notify
from customs.errors import IllegalTransitionError, NotFoundError
from customs.lifecycle import Status, load_declaration, lock, transition
from customs.risk import Assessment, assess, latest_assessment
from customs.routes import Corridor, current_corridor
from customs.settings import CustomsSettings
from sealwatch.logging import get_logger

log = get_logger(__name__)

TRANSITS_CHANNEL = "sealwatch_transits"
TransitStatus = Literal["active", "arrived", "closed"]


@dataclass(frozen=True, slots=True)
class ReleasedTransit:
    transit_id: str
    seal_id: str | None
    route_code: str | None
    released_at: datetime
    deadline: datetime


class TransitView(BaseModel):
    transit_id: str
    declaration_id: int
    seal_id: str | None
    seal_ids: list[str]
    route_code: str | None
    route_line: dict[str, Any]
    corridor: dict[str, Any]
    corridor_width_m: float
    route_version: int | None = None
    segment_widths: list[float] | None = None
    office_departure: str
    office_destination: str
    channel: str
    monitored: bool
    released_at: datetime
    deadline: datetime
    status: TransitStatus
    arrived_at: datetime | None
    closed_at: datetime | None


def mrn(year: int, office: str, seq: int) -> str:
    """An 18-character MRN-like number: YY AZ office(3) sequence(10) check digit (ISO 6346 style)."""
    body = f"{year % 100:02d}AZ{office[-3:]}{seq:010d}"
    value = {c: v for v, c in enumerate("0123456789", 0)}
    letters = iter(v for v in range(10, 39) if v % 11)
    value.update(zip("ABCDEFGHIJKLMNOPQRSTUVWXYZ", letters, strict=False))
    check = sum(value[c] * 2**i for i, c in enumerate(body)) % 11 % 10
    return f"{body}{check}"


def time_limit_for_length(length_m: float) -> float:
    """Time limit for an ad-hoc itinerary: 50 km/h average plus an hour, in half hours."""
    return max(2.0, math.ceil((length_m / 1000 / 50 + 1) * 2) / 2)


async def _itinerary_corridor(
    db: Db, route_code: str | None, places: Sequence[str], settings: CustomsSettings
) -> Corridor:
    """A route's current geometry with its widths; an ad-hoc itinerary's town line with one width."""
    if route_code:
        return await current_corridor(db, route_code)
    rows = await db.all("SELECT code, lat, lon FROM places WHERE code = ANY(%s)", (list(places),))
    where = {r["code"]: (r["lon"], r["lat"]) for r in rows}
    line = line_geojson([where[c] for c in places])
    width = settings.corridor_width_m
    return Corridor(line, time_limit_for_length(line_length_m(line)), width, corridor_polygon(line, width))


async def release(
    db: Db,
    declaration_id: int,
    settings: CustomsSettings,
    rng: random.Random,
    *,
    seal_ids: Sequence[str] | None = None,
    monitor_all: bool = False,
    now: datetime | None = None,
    actor: str = "officer",
) -> TransitView:
    """Release an accepted declaration into a transit (assessing risk first if nobody did)."""
    at = now or datetime.now(UTC)
    async with db.transaction():
        status = await lock(db, declaration_id)
        if status != Status.ACCEPTED:
            raise IllegalTransitionError(
                f"declaration {declaration_id} is {status.value}: only accepted declarations are released"
            )
        decl_row = await db.one(
            """SELECT route_code, itinerary_places, office_departure, office_destination, seal_count
               FROM declarations WHERE id = %s""",
            (declaration_id,),
        )
        assert decl_row is not None
        assessment = await latest_assessment(db, declaration_id)
        if assessment is None:
            decl = await load_declaration(db, declaration_id)
            assessment = await assess(db, declaration_id, decl, status.value, settings, rng, monitor_all=monitor_all)
        monitored = monitor_all or assessment.monitored
        corridor = await _itinerary_corridor(db, decl_row["route_code"], decl_row["itinerary_places"], settings)
        seq = await db.one("SELECT nextval('mrn_seq') AS n")
        assert seq is not None
        transit_id = mrn(at.year, decl_row["office_departure"], int(seq["n"]))
        deadline = at + timedelta(hours=corridor.time_limit_h)
        await db.run(
            """INSERT INTO transits (transit_id, declaration_id, route_code, route_line, corridor, corridor_width_m,
                   office_departure, office_destination, channel, monitored, released_at, deadline, route_version,
                   segment_widths)
               VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)""",
            (
                transit_id,
                declaration_id,
                decl_row["route_code"],
                json.dumps(corridor.line),
                json.dumps(corridor.polygon),
                corridor.width_m,
                decl_row["office_departure"],
                decl_row["office_destination"],
                assessment.channel.value,
                monitored,
                at,
                deadline,
                corridor.route_version,
                None if corridor.segment_widths is None else json.dumps(corridor.segment_widths),
            ),
        )
        if monitored:
            seals = await inventory.assign(
                db, transit_id, decl_row["seal_count"], settings.low_battery_refuse_pct, seal_ids
            )
            await db.run("UPDATE transits SET seal_id = %s WHERE transit_id = %s", (seals[0], transit_id))
        await db.run("UPDATE declarations SET mrn = %s WHERE id = %s", (transit_id, declaration_id))
        await transition(
            db, declaration_id, Status.RELEASED, at=at, actor=actor, reason=f"{assessment.channel.value} channel"
        )
        await notify(db, TRANSITS_CHANNEL, transit_id)
    log.debug("transit released", transit_id=transit_id, declaration_id=declaration_id, monitored=monitored)
    return await get_transit(db, transit_id)


async def record_arrival(
    conn: AnyConnection | Db,
    transit_id: str,
    at: datetime,
    *,
    strict: bool = False,
    actor: str = "engine",
) -> TransitView:
    """Mark the transit arrived at its office of destination.

    Called by an officer (``strict``: a second arrival is a 409) or by the geofence engine, for
    which a repeated call is a no-op so a re-processed batch does nothing twice.
    """
    db = as_db(conn)
    async with db.transaction():
        row = await db.one(
            "SELECT status, declaration_id FROM transits WHERE transit_id = %s FOR UPDATE", (transit_id,)
        )
        if row is None:
            raise NotFoundError(f"transit {transit_id} does not exist")
        if row["status"] == "arrived" and not strict:
            return await get_transit(db, transit_id)
        if row["status"] != "active":
            raise IllegalTransitionError(f"transit {transit_id} is {row['status']}: only an active transit arrives")
        await db.run("UPDATE transits SET status = 'arrived', arrived_at = %s WHERE transit_id = %s", (at, transit_id))
        reason = "at office of destination"
        await transition(db, row["declaration_id"], Status.ARRIVED, at=at, actor=actor, reason=reason)
        await notify(db, TRANSITS_CHANNEL, transit_id)
    log.info("transit arrived", transit_id=transit_id, actor=actor)
    return await get_transit(db, transit_id)


def record_arrival_sync(
    conn: psycopg.Connection[Any], transit_id: str, at: datetime, *, actor: str = "engine"
) -> TransitView:
    """:func:`record_arrival` for synchronous callers (no running event loop)."""
    return asyncio.run(record_arrival(conn, transit_id, at, actor=actor))


async def close(db: Db, transit_id: str, *, at: datetime | None = None, actor: str = "officer") -> TransitView:
    """Close an arrived transit: the declaration is discharged and the seals go back to inventory."""
    when = at or datetime.now(UTC)
    async with db.transaction():
        row = await db.one(
            "SELECT status, declaration_id FROM transits WHERE transit_id = %s FOR UPDATE", (transit_id,)
        )
        if row is None:
            raise NotFoundError(f"transit {transit_id} does not exist")
        if row["status"] != "arrived":
            raise IllegalTransitionError(f"transit {transit_id} is {row['status']}: only an arrived transit is closed")
        await db.run("UPDATE transits SET status = 'closed', closed_at = %s WHERE transit_id = %s", (when, transit_id))
        await inventory.release_seals(db, transit_id, when)
        await transition(db, row["declaration_id"], Status.CLOSED, at=when, actor=actor, reason="transit closed")
        await notify(db, TRANSITS_CHANNEL, transit_id)
    log.info("transit closed", transit_id=transit_id)
    return await get_transit(db, transit_id)


_TRANSIT_SELECT = """
    SELECT t.transit_id, t.declaration_id, t.seal_id, t.route_code, t.route_line, t.corridor, t.corridor_width_m,
           t.route_version, t.segment_widths,
           t.office_departure, t.office_destination, t.channel, t.monitored, t.released_at, t.deadline,
           t.status, t.arrived_at, t.closed_at,
           COALESCE((SELECT array_agg(ts.seal_id ORDER BY ts.seal_id) FROM transit_seals ts
                     WHERE ts.transit_id = t.transit_id), '{}') AS seal_ids
    FROM transits t"""


async def get_transit(db: Db, transit_id: str) -> TransitView:
    row = await db.one(_TRANSIT_SELECT + " WHERE t.transit_id = %s", (transit_id,))
    if row is None:
        raise NotFoundError(f"transit {transit_id} does not exist")
    return TransitView.model_validate(row)


async def list_transits(db: Db, status: str | None = None, limit: int = 500) -> list[TransitView]:
    rows = await db.all(
        _TRANSIT_SELECT + " WHERE (%(s)s::text IS NULL OR t.status = %(s)s) ORDER BY t.released_at DESC LIMIT %(n)s",
        {"s": status, "n": limit},
    )
    return [TransitView.model_validate(r) for r in rows]


class SealChoice(BaseModel):
    seal_id: str
    battery_pct: float


class ReleasePreview(BaseModel):
    """What releasing the declaration now would set up: the corridor, the deadline and the seals."""

    declaration_id: int
    route_code: str | None
    route_line: dict[str, Any]
    corridor: dict[str, Any]
    corridor_width_m: float
    length_km: float
    time_limit_h: float
    deadline_if_released_now: datetime
    seal_count: int
    min_battery_pct: float
    suggested_seals: list[str]  # what release picks when the officer names none
    available_seals: list[SealChoice]  # every seal the officer may choose from


async def preview(
    db: Db, declaration_id: int, settings: CustomsSettings, *, now: datetime | None = None
) -> ReleasePreview:
    """The corridor, deadline and seals of a release, computed as :func:`release` would, storing nothing."""
    at = now or datetime.now(UTC)
    row = await db.one(
        "SELECT route_code, itinerary_places, seal_count FROM declarations WHERE id = %s", (declaration_id,)
    )
    if row is None:
        raise NotFoundError(f"declaration {declaration_id} does not exist")
    corridor = await _itinerary_corridor(db, row["route_code"], row["itinerary_places"], settings)
    seals = await db.all(
        """SELECT seal_id, battery_pct FROM seals WHERE status = 'available' AND battery_pct >= %s
           ORDER BY battery_pct DESC, seal_id""",
        (settings.low_battery_refuse_pct,),
    )
    return ReleasePreview(
        declaration_id=declaration_id,
        route_code=row["route_code"],
        route_line=corridor.line,
        corridor=corridor.polygon,
        corridor_width_m=corridor.width_m,
        length_km=round(line_length_m(corridor.line) / 1000, 1),
        time_limit_h=corridor.time_limit_h,
        deadline_if_released_now=at + timedelta(hours=corridor.time_limit_h),
        seal_count=row["seal_count"],
        min_battery_pct=settings.low_battery_refuse_pct,
        suggested_seals=[s["seal_id"] for s in seals[: row["seal_count"]]],
        available_seals=[SealChoice.model_validate(s) for s in seals],
    )


def released(view: TransitView) -> ReleasedTransit:
    return ReleasedTransit(view.transit_id, view.seal_id, view.route_code, view.released_at, view.deadline)


__all__ = [
    "TRANSITS_CHANNEL",
    "Assessment",
    "ReleasePreview",
    "ReleasedTransit",
    "TransitView",
    "close",
    "get_transit",
    "list_transits",
    "preview",
    "record_arrival",
    "record_arrival_sync",
    "release",
]
