"""The mobile group's own API: its dispatches as its phone shows them, and its position.

``GET /api/group/dispatches`` is the one call the group's screen needs: every alert dispatched to
the group (unresolved first, then what it resolved in the last day) with the readable briefing
(plate, carrier, place, age), the truck's latest position and the alert's history. The phone works
out distance and bearing from its own location. ``POST /api/group/position`` is the phone's
location while the officer is on duty: the group needs no separate tracker for the nearest-group
suggestion.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from alerts import lifecycle
from alerts.briefing import brief, truck_facts
from alerts.groups import GroupPosition, upsert_position
from alerts.store import ALERT_COLUMNS, fetch_all, fetch_one
from api.auth import CurrentUser
from api.deps import Conn, UtcDatetime
from maps.vocabulary import words
from store.users import Role, User

router = APIRouter(tags=["mobile group"])

RESOLVED_WINDOW = timedelta(hours=24)


class PositionIn(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)
    t: UtcDatetime | None = Field(default=None, description="when the phone measured it (default: now)")
    available: bool = True


def _group_of(user: User) -> str:
    if user.role is not Role.MOBILE_GROUP or user.group_id is None:
        raise HTTPException(status_code=409, detail="this user is not bound to a mobile group")
    return user.group_id


@router.get("/api/group/dispatches")
async def group_dispatches(conn: Conn, user: CurrentUser) -> dict[str, Any]:
    """The group's dispatched alerts with everything its screen shows (see the module docstring)."""
    group_id = _group_of(user)
    now = datetime.now(UTC)
    alerts = await fetch_all(
        conn,
        f"""SELECT {ALERT_COLUMNS} FROM alerts a
            WHERE a.group_id = %(g)s AND (a.status <> 'resolved' OR a.resolved_at >= %(since)s)
            ORDER BY a.status = 'resolved', a.dispatched_at DESC NULLS LAST, a.id DESC LIMIT 100""",
        {"g": group_id, "since": now - RESOLVED_WINDOW},
    )
    trucks = await truck_facts(conn, [a["transit_id"] for a in alerts])
    seals = await fetch_all(
        conn,
        "SELECT seal_id, t, lat, lon, speed_kmh, heading_deg, seal_state, battery_pct FROM seal_latest"
        " WHERE seal_id = ANY(%s)",
        (sorted({a["seal_id"] for a in alerts}),),
    )
    latest = {s["seal_id"]: s for s in seals}
    group = await fetch_one(
        conn,
        "SELECT group_id, name, lat, lon, available, updated_at FROM mobile_groups WHERE group_id = %s",
        (group_id,),
    )
    items = []
    for a in alerts:
        items.append(
            {
                **a,
                "brief": brief(a, trucks.get(a["transit_id"]), now, words),
                "truck": latest.get(a["seal_id"]),
                "history": await lifecycle.history(conn, a["id"]),
            }
        )
    return {"now": now, "group_id": group_id, "group": group, "alerts": items}


@router.post("/api/group/position")
async def group_position(body: PositionIn, conn: Conn, user: CurrentUser) -> dict[str, Any]:
    """The group's position from the officer's phone (a newer stored position is kept)."""
    group_id = _group_of(user)
    t = body.t or datetime.now(UTC)
    if t > datetime.now(UTC) + timedelta(minutes=5):
        raise HTTPException(status_code=422, detail="the position's time is in the future")
    stored = await upsert_position(
        conn, GroupPosition(group_id=group_id, t=t, lat=body.lat, lon=body.lon, available=body.available)
    )
    return {"group_id": group_id, "stored": stored, "t": t}
