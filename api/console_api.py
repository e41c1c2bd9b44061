"""The operations console's API: the units feed, a unit's transit card, the alerts panel, and who am I.

Thin: the SQL lives in :mod:`maps.console_units` and :mod:`alerts.panel`. The contract the console
page builds on is ``CONSOLE_CONTRACT.md`` at the repository root of the working tree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from alerts.model import AlertType, Severity
from alerts.panel import InvalidPanelCursorError, PanelKey, PanelState, panel
from api.alerts_routes import AlertOut
from api.auth import ACCESS, CurrentUser, may
from api.deps import Conn, SettingsDep
from maps.console_units import FIELDS, CountsCache, Cursor, transit_card, units
from maps.seal_status import SealStatus

router = APIRouter(tags=["console"])

# What the console may offer, by the route each action calls: a role sees only what ACCESS lets it do.
ACTIONS: dict[str, tuple[str, str]] = {
    "acknowledge": ("POST", "/api/alerts/{alert_id}/acknowledge"),
    "dispatch": ("POST", "/api/alerts/{alert_id}/dispatch"),
    "on_scene": ("POST", "/api/alerts/{alert_id}/on-scene"),
    "resolve": ("POST", "/api/alerts/{alert_id}/resolve"),
    "suggest_groups": ("GET", "/api/groups/suggest"),
    "view_groups": ("GET", "/api/groups"),
    "view_history": ("GET", "/api/history/transits/{transit_id}"),
    "playback": ("GET", "/transits/{transit_id}/playback"),
    "arrive_transit": ("POST", "/api/transits/{transit_id}/arrive"),
    "close_transit": ("POST", "/api/transits/{transit_id}/close"),
}
assert all(key in ACCESS for key in ACTIONS.values()), "an action names a route without an access rule"


class UnitsOut(BaseModel):
    """Documents the feed (the answer itself is written by PostgreSQL and sent as it is)."""

    cursor: str = Field(description="pass back as ?cursor= to get only what changed")
    full: bool = Field(description="true: rows hold every unit (no, unknown or expired cursor)")
    now: datetime
    fields: list[str] = Field(description=f"the columns of each row: {', '.join(FIELDS)}")
    rows: list[list[Any]]
    gone: list[str] = Field(description="seals no longer monitored since the cursor")
    counts: dict[SealStatus, int] = Field(description="units per state, over every unit")


class TrackOut(BaseModel):
    type: str = "LineString"
    coordinates: list[tuple[float, float]]


class CardOut(BaseModel):
    seal_id: str
    transit_id: str
    declaration_id: int
    mrn: str | None
    plate: str
    carrier: str
    route_code: str | None
    route_name: str | None
    origin: str
    destination: str
    deadline: datetime
    battery: float | None
    t: datetime | None
    age_s: float | None = Field(description="seconds since the last fix")
    state: SealStatus
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    heading_deg: float | None
    seal_state: str | None
    open_alerts: list[AlertOut] = Field(description="unresolved, most severe first")
    track: TrackOut = Field(description="the last 2 h before the latest fix, thinned")
    links: dict[str, str]


class GroupOut(BaseModel):
    type: AlertType
    severity: Severity
    count: int
    newest_at: datetime


class PanelOut(BaseModel):
    total: int = Field(description="alerts matching every filter")
    counts: dict[str, int] = Field(description="per type, over the status filter")
    by_severity: dict[str, int] = Field(description="per severity, over the status filter")
    groups: list[GroupOut] = Field(description="identical alerts (type and severity) with their count")
    items: list[AlertOut] = Field(description="severity desc, then raised_at desc")
    next: str | None = Field(description="cursor of the next page; null on the last")


class MeOut(BaseModel):
    name: str
    role: str
    actions: list[str] = Field(description="what the console may offer this user")
    display_tz: str


@router.get("/api/console/units", response_model=UnitsOut)
async def get_units(
    request: Request, conn: Conn, settings: SettingsDep, cursor: Annotated[str | None, Query(max_length=200)] = None
) -> Response:
    """Monitored units as columnar rows: all of them, or with ``cursor`` only those changed since."""
    cache: CountsCache | None = getattr(request.app.state, "console_counts", None)
    if cache is None:  # one per app: every console polling this process shares it
        cache = request.app.state.console_counts = CountsCache()
    answer = await units(conn, settings, Cursor.decode(cursor), cache)
    return Response(answer.to_json(), media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/api/console/units/{seal_id}", response_model=CardOut, responses={404: {"description": "not monitored"}})
async def get_unit(seal_id: str, conn: Conn, settings: SettingsDep) -> CardOut:
    """A unit's transit card: declaration, carrier, plate, route, deadline, last fix, open alerts, recent track."""
    card = await transit_card(conn, settings, seal_id)
    if card is None:
        raise HTTPException(status_code=404, detail=f"seal {seal_id!r} is not on a monitored transit")
    transit_id = card["transit_id"]
    card["links"] = {
        "history": f"/auditor/transits/{transit_id}",
        "playback": f"/transits/{transit_id}/playback",
    }
    return CardOut(**card)


@router.get("/api/console/alerts", response_model=PanelOut, responses={422: {"description": "invalid cursor"}})
async def get_panel(
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    type: Annotated[list[AlertType] | None, Query(description="repeatable")] = None,
    severity: Annotated[list[Severity] | None, Query(description="repeatable")] = None,
    state: Annotated[PanelState, Query(description="all: every unresolved alert")] = "all",
) -> PanelOut:
    """Unresolved alerts, most severe first then newest, with true counts and groups; keyset pages."""
    try:
        after = PanelKey.decode(cursor) if cursor else None
    except InvalidPanelCursorError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    page = await panel(conn, state=state, types=type, severities=severity, limit=limit, after=after)
    return PanelOut(
        total=page.total,
        counts=page.counts,
        by_severity=page.by_severity,
        groups=[GroupOut(type=g.type, severity=g.severity, count=g.count, newest_at=g.newest_at) for g in page.groups],
        items=[AlertOut(**r) for r in page.items],
        next=page.next,
    )


@router.get("/api/me", response_model=MeOut)
async def get_me(user: CurrentUser, settings: SettingsDep) -> MeOut:
    """The user, and the actions the console may offer: those ACCESS lets the role take."""
    actions = [name for name, (method, path) in ACTIONS.items() if may(user.role, method, path)]
    return MeOut(name=user.name, role=user.role.value, actions=actions, display_tz=settings.display_tz)
