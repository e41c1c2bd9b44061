"""Alerts API: list and read alerts, the operator lifecycle, mobile groups, statistics, live SSE stream.

The actor of a step is the authenticated user. A ``mobile_group`` user sees and handles only the
alerts dispatched to its group; any other alert is, for it, not found (404).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse

from alerts import lifecycle, stream
from alerts.groups import distance_m, list_groups, suggest
from alerts.model import AlertConflictError, AlertNotFoundError, AlertStatus, AlertType, OperatorOutcome, Severity
from alerts.settings import AlertSettings, get_alert_settings
from alerts.stats import AlertStats, alert_stats
from alerts.store import ALERT_COLUMNS, fetch_all, get_alert
from api import idempotency
from api.auth import CurrentUser, session_token
from api.deps import Conn, SettingsDep, UtcDatetime, deprecated_alias, get_pool
from api.session_watch import session_expires, until_session_ends
from maps.vocabulary import words
from sealwatch.logging import get_logger
from store.db import database_url
from store.users import Role, User

log = get_logger(__name__)

router = APIRouter(tags=["alerts"])

STREAM_HEADER = "X-Alert-Stream-Id"


# ---- models ----


class AlertOut(BaseModel):
    id: int
    type: AlertType
    severity: Severity
    status: AlertStatus
    transit_id: str
    seal_id: str
    lat: float | None
    lon: float | None
    first_t: datetime
    last_t: datetime
    count: int
    evidence: dict[str, Any]
    raised_at: datetime
    updated_at: datetime
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    dispatched_at: datetime | None
    dispatched_by: str | None
    group_id: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome: str | None
    comment: str
    late: bool = False  # found late: raised from a backlog judged after a later live fix
    detected_at: datetime | None = None  # when it was found (raised_at/first_t: when it happened)


class HistoryOut(BaseModel):
    id: int
    kind: str
    from_status: str | None
    to_status: str
    actor: str
    at: datetime
    detail: dict[str, Any]


class AlertDetail(AlertOut):
    history: list[HistoryOut]


class StepIn(BaseModel):
    comment: str = Field(default="", max_length=2000)


class DispatchIn(BaseModel):
    group_id: str | None = Field(default=None, description="omit (or auto=true) for the nearest available group")
    auto: bool = False


class ResolveIn(BaseModel):
    outcome: OperatorOutcome
    comment: str = Field(default="", max_length=2000)


class GroupOut(BaseModel):
    group_id: str
    name: str
    lat: float
    lon: float
    available: bool
    updated_at: datetime
    busy_with: int | None = Field(default=None, description="alert the group is dispatched to")


class SuggestionOut(BaseModel):
    group_id: str
    name: str
    lat: float
    lon: float
    distance_m: float
    updated_at: datetime


class GroupSuggestionOut(BaseModel):
    group_id: str
    alert_id: int
    distance_m: float | None
    rank: int | None = Field(description="1 = the group dispatch would choose; null when it is not a candidate")
    candidate: bool


# ---- helpers ----


def _settings() -> AlertSettings:
    return get_alert_settings()


def _sees(user: User, row: dict[str, Any]) -> bool:
    """A mobile group sees only the alerts dispatched to it; every other role sees every alert."""
    return user.role is not Role.MOBILE_GROUP or row["group_id"] == user.group_id


async def _detail(conn: Conn, alert_id: int, user: User | None = None) -> AlertDetail:
    row = await get_alert(conn, alert_id)
    if row is None or (user is not None and not _sees(user, row)):
        raise HTTPException(status_code=404, detail=f"alert {alert_id} does not exist")
    history = await lifecycle.history(conn, alert_id)
    return AlertDetail(**row, history=[HistoryOut(**h) for h in history])


async def _step(conn: Conn, alert_id: int, user: User, run: Callable[[], Awaitable[Any]]) -> AlertDetail:
    try:
        if user.role is Role.MOBILE_GROUP:
            # The group check and the step in one transaction, under the alert's row lock.
            async with conn.transaction():
                row = await get_alert(conn, alert_id, lock=True)
                if row is None or not _sees(user, row):
                    raise AlertNotFoundError(f"alert {alert_id} does not exist")
                await run()
        else:
            await run()
    except AlertNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except AlertConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return await _detail(conn, alert_id)


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such alert (or group)"},
    409: {"description": "the alert's status forbids this step"},
}


# ---- alerts ----


@router.get("/api/alerts", response_model=list[AlertOut])
async def list_alerts(
    conn: Conn,
    response: Response,
    user: CurrentUser,
    status: Annotated[
        list[AlertStatus | Literal["unresolved"]] | None, Query(description="repeatable; 'unresolved' = not resolved")
    ] = None,
    alert_type: Annotated[list[AlertType] | None, Query(description="repeatable")] = None,
    transit_id: str | None = None,
    seal_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    type: Annotated[list[AlertType] | None, Query(deprecated=True, description="deprecated: use alert_type")] = None,
) -> list[AlertOut]:
    """Alerts, newest first. The ``X-Alert-Stream-Id`` header is the stream position of this snapshot:
    follow ``/api/alerts/stream?after=<it>`` to miss no change after it."""
    types = deprecated_alias(alert_type, type, "alert_type", "type")
    statuses = [s for s in status or [] if s != "unresolved"]
    unresolved = bool(status and "unresolved" in status)
    async with conn.transaction():
        # One snapshot for the list and the stream position, so the two agree.
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        rows = await fetch_all(
            conn,
            f"""SELECT {ALERT_COLUMNS} FROM alerts a
                WHERE (%(any_status)s OR a.status = ANY(%(statuses)s) OR (%(unresolved)s AND a.status <> 'resolved'))
                  AND (%(types)s::text[] IS NULL OR a.type = ANY(%(types)s))
                  AND (%(transit)s::text IS NULL OR a.transit_id = %(transit)s)
                  AND (%(seal)s::text IS NULL OR a.seal_id = %(seal)s)
                  AND (%(group)s::text IS NULL OR a.group_id = %(group)s)
                ORDER BY a.id DESC LIMIT %(limit)s""",
            {
                "any_status": not status,
                "statuses": statuses,
                "unresolved": unresolved,
                "types": list(types) if types else None,
                "transit": transit_id,
                "seal": seal_id,
                "group": user.group_id if user.role is Role.MOBILE_GROUP else None,
                "limit": limit,
            },
        )
        position = await stream.latest_id(conn)
    response.headers[STREAM_HEADER] = str(position)
    return [AlertOut(**r) for r in rows]


@router.get("/api/alerts/stats", response_model=AlertStats)
async def get_stats(
    conn: Conn,
    start: Annotated[UtcDatetime | None, Query(description="alerts raised at or after")] = None,
    end: Annotated[UtcDatetime | None, Query(description="alerts raised before")] = None,
    since: Annotated[UtcDatetime | None, Query(deprecated=True, description="deprecated: use start")] = None,
    until: Annotated[UtcDatetime | None, Query(deprecated=True, description="deprecated: use end")] = None,
) -> AlertStats:
    """Counts and false-alarm rate (false alarms / operator-resolved) by type, route and carrier."""
    return await alert_stats(
        conn, deprecated_alias(start, since, "start", "since"), deprecated_alias(end, until, "end", "until")
    )


@router.get("/api/alerts/stream", response_class=EventSourceResponse)
async def alert_stream(
    request: Request,
    settings: SettingsDep,
    after: Annotated[int | None, Query(ge=0, description="replay changes after this stream id")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Server-sent events, one ``alert`` event per alert change (id = stream id). Resumes after the
    ``Last-Event-ID`` header (browsers send it on reconnect) or ``?after=``; with neither, from now.
    When the session ends (logout, expiry) a last ``session-ended`` event is sent and the stream closes."""
    start = after
    if last_event_id is not None and last_event_id.strip().isdigit():
        start = int(last_event_id.strip())
    url = database_url(settings)
    token, _ = session_token(request)
    assert token is not None  # authorize() accepted a session token
    pool = get_pool(request)

    async def events() -> AsyncIterator[dict[str, str]]:
        async for item in stream.follow(url, start):
            yield item.sse()

    async def expires() -> datetime | None:
        async with pool.connection() as conn:
            return await session_expires(conn, token)

    log.info("alert stream client", after=start, client=request.client.host if request.client else None)
    return EventSourceResponse(until_session_ends(events(), expires, settings.stream_session_check_s), ping=15)


@router.get("/api/alerts/{alert_id}", response_model=AlertDetail, responses=_ERRORS)
async def get_alert_detail(alert_id: int, conn: Conn, user: CurrentUser) -> AlertDetail:
    """One alert with its full history (who did what, when)."""
    return await _detail(conn, alert_id, user)


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        description="makes the step safe to send again: a repeat with the same key returns the first answer",
    ),
]


@router.post("/api/alerts/{alert_id}/acknowledge", response_model=AlertDetail, responses=_ERRORS)
async def acknowledge(
    alert_id: int,
    conn: Conn,
    request: Request,
    user: CurrentUser,
    key: IdempotencyKey = None,
    body: StepIn | None = None,
) -> AlertDetail | JSONResponse:
    """Acknowledge an open alert; the group it was dispatched to acknowledges the dispatch (once)."""
    step = body or StepIn()

    def action() -> Awaitable[Any]:
        if user.role is Role.MOBILE_GROUP:
            return lifecycle.group_step(conn, alert_id, "acknowledged", user.name, comment=step.comment)
        return lifecycle.acknowledge(conn, alert_id, user.name, comment=step.comment)

    return await idempotency.once(conn, request, user, key, lambda: _step(conn, alert_id, user, action))


@router.post("/api/alerts/{alert_id}/on-scene", response_model=AlertDetail, responses=_ERRORS)
async def on_scene(
    alert_id: int,
    conn: Conn,
    request: Request,
    user: CurrentUser,
    key: IdempotencyKey = None,
    body: StepIn | None = None,
) -> AlertDetail | JSONResponse:
    """The dispatched group reports it has reached the truck (the status stays dispatched)."""
    step = body or StepIn()

    def action() -> Awaitable[Any]:
        return lifecycle.group_step(conn, alert_id, "on_scene", user.name, comment=step.comment)

    return await idempotency.once(conn, request, user, key, lambda: _step(conn, alert_id, user, action))


@router.post("/api/alerts/{alert_id}/dispatch", response_model=AlertDetail, responses=_ERRORS)
async def dispatch(alert_id: int, conn: Conn, user: CurrentUser, body: DispatchIn | None = None) -> AlertDetail:
    """Send the alert to a mobile group (``group_id``), or to the nearest available one."""
    step = body or DispatchIn()
    group = None if step.auto else step.group_id
    return await _step(
        conn,
        alert_id,
        user,
        lambda: lifecycle.dispatch(conn, alert_id, user.name, _settings(), group_id=group, words=words),
    )


@router.post("/api/alerts/{alert_id}/resolve", response_model=AlertDetail, responses=_ERRORS)
async def resolve(
    alert_id: int, body: ResolveIn, conn: Conn, request: Request, user: CurrentUser, key: IdempotencyKey = None
) -> AlertDetail | JSONResponse:
    def action() -> Awaitable[Any]:
        return lifecycle.resolve(conn, alert_id, body.outcome, user.name, comment=body.comment)

    return await idempotency.once(conn, request, user, key, lambda: _step(conn, alert_id, user, action))


# ---- mobile groups ----


@router.get("/api/groups", response_model=list[GroupOut], tags=["groups"])
async def get_groups(conn: Conn) -> list[GroupOut]:
    """Every mobile group with its last position, availability and current dispatch."""
    return [GroupOut(**g) for g in await list_groups(conn)]


async def _alert_position(conn: Conn, alert_id: int) -> tuple[float, float]:
    row = await get_alert(conn, alert_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"alert {alert_id} does not exist")
    if row["lat"] is None or row["lon"] is None:
        raise HTTPException(status_code=409, detail="the alert has no position")
    return row["lat"], row["lon"]


@router.get("/api/groups/suggest", response_model=list[SuggestionOut], tags=["groups"], responses=_ERRORS)
async def suggest_groups(conn: Conn, alert_id: int) -> list[SuggestionOut]:
    """Groups that could take the alert, nearest first (the first is what dispatch would choose)."""
    lat, lon = await _alert_position(conn, alert_id)
    ranked = await suggest(conn, lat, lon, datetime.now(UTC), _settings().group_stale_after_s)
    return [SuggestionOut(**{k: getattr(g, k) for k in SuggestionOut.model_fields}) for g in ranked]


@router.get("/api/groups/{group_id}/suggest", response_model=GroupSuggestionOut, tags=["groups"], responses=_ERRORS)
async def suggest_for_group(group_id: str, conn: Conn, alert_id: int) -> GroupSuggestionOut:
    """How this group compares for the alert: its distance and its rank among available groups."""
    lat, lon = await _alert_position(conn, alert_id)
    groups = {g["group_id"]: g for g in await list_groups(conn)}
    group = groups.get(group_id)
    if group is None:
        raise HTTPException(status_code=404, detail=f"mobile group {group_id!r} does not exist")
    ranked = await suggest(conn, lat, lon, datetime.now(UTC), _settings().group_stale_after_s)
    ids = [g.group_id for g in ranked]
    rank = ids.index(group_id) + 1 if group_id in ids else None
    return GroupSuggestionOut(
        group_id=group_id,
        alert_id=alert_id,
        distance_m=round(distance_m(lat, lon, group["lat"], group["lon"]), 1),
        rank=rank,
        candidate=rank is not None,
    )
