"""History API: transit list and full records, tracks, playback data, streamed exports, aggregates,
the Time Release Study (JSON and chart).

Exports stream: each takes its own pooled connection, held by the response body (the request's
dependency connection may be released before a long body is sent), so a response of a million
rows holds one connection and a few thousand rows of memory at a time. How an export reports a
failure is ``api.export_response``.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask

from api.deps import Conn, UtcDatetime, deprecated_alias, get_pool
from api.export_response import export_response
from maps.playback import playback_data
from sealwatch.logging import get_logger
from store import aggregates, exports, history, trs
from store.exports import ExportError, ExportSpec
from store.history import TransitFilter, TransitNotFoundError
from store.paging import InvalidCursorError

log = get_logger(__name__)

router = APIRouter()

TransitId = Annotated[str, "transit id (MRN)"]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class JSON(JSONResponse):
    """orjson, UTC times ending in Z; numeric columns become floats."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS)


class GeoJSON(JSON):
    media_type = "application/geo+json"


def _filter(
    start: datetime | None,
    end: datetime | None,
    seal_id: str | None,
    transit_id: str | None,
    declaration: str | None,
    carrier: str | None,
    route: str | None,
    alert_type: str | None,
    channel: str | None,
    status: str | None,
    outcome: str | None,
) -> TransitFilter:
    if start is not None and end is not None and end <= start:
        raise HTTPException(status_code=422, detail="end must be after start")
    return TransitFilter(
        start, end, seal_id, transit_id, declaration, carrier, route, alert_type, channel, status, outcome
    )


# The query parameters of history and exports: one name per concept (transit_id, seal_id,
# alert_type, start/end), the same in every endpoint. ``transit`` and ``seal`` were the history
# list's names and ``kind`` the alert type of the alerts export: still accepted, deprecated.
Start = Annotated[UtcDatetime | None, Query(description="transits not closed before this time")]
End = Annotated[UtcDatetime | None, Query(description="transits released before this time")]
SealId = Annotated[str | None, Query(description="a seal (that was on the transit)")]
TransitIdQ = Annotated[str | None, Query(description="transit id (MRN)")]
OldSeal = Annotated[str | None, Query(deprecated=True, description="deprecated: use seal_id")]
OldTransit = Annotated[str | None, Query(deprecated=True, description="deprecated: use transit_id")]
Declaration = Annotated[str | None, Query(description="declaration id, MRN or LRN")]
Carrier = Annotated[str | None, Query(description="carrier TIN, or part of its name (any case)")]
Route = Annotated[str | None, Query(description="route code")]
AlertTypeQ = Annotated[
    str | None, Query(description="alert type (transits: those with an alert of this type; empty if no alerts table)")
]
Channel = Annotated[str | None, Query(description="risk channel: green, blue, yellow, red")]
Status = Annotated[Literal["active", "arrived", "closed"] | None, Query(description="transit state")]
OutcomeQ = Annotated[
    Literal["false_alarm", "violation_confirmed", "technical_fault", "other", "auto_cleared"] | None,
    Query(description="transits with an alert resolved with this outcome"),
]


@router.get("/api/history/transits", response_class=JSON, tags=["history"])
async def list_transits(
    conn: Conn,
    start: Start = None,
    end: End = None,
    seal_id: SealId = None,
    transit_id: TransitIdQ = None,
    declaration: Declaration = None,
    carrier: Carrier = None,
    route: Route = None,
    alert_type: AlertTypeQ = None,
    channel: Channel = None,
    status: Status = None,
    outcome: OutcomeQ = None,
    limit: Annotated[int, Query(ge=1, le=history.MAX_PAGE)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    seal: OldSeal = None,
    transit: OldTransit = None,
) -> JSON:
    """Transits, newest release first, one page at a time (keyset pagination with an opaque cursor)."""
    f = _filter(
        start,
        end,
        deprecated_alias(seal_id, seal, "seal_id", "seal"),
        deprecated_alias(transit_id, transit, "transit_id", "transit"),
        declaration,
        carrier,
        route,
        alert_type,
        channel,
        status,
        outcome,
    )
    try:
        page = await history.list_transits(conn, f, limit=limit, cursor=cursor)
    except InvalidCursorError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    return JSON({"items": page.items, "next_cursor": page.next_cursor, "alerts_available": page.alerts_available})


@router.get("/api/history/transits/{transit_id}", response_class=JSON, tags=["history"])
async def transit_record(transit_id: TransitId, conn: Conn) -> JSON:
    """The full record of a transit: declaration, risk, release, seals, fixes, observations, alerts,
    arrival, closure and its audit trail."""
    try:
        return JSON(await history.transit_detail(conn, transit_id))
    except TransitNotFoundError as exc:
        raise HTTPException(status_code=404, detail=f"transit {transit_id} does not exist") from exc


@router.get("/api/history/transits/{transit_id}/track", response_class=GeoJSON, tags=["history"])
async def transit_track(transit_id: TransitId, conn: Conn) -> GeoJSON:
    """The transit's fixes, fix for fix, as one LineString per seal with per-vertex times."""
    try:
        return GeoJSON(await history.transit_track(conn, transit_id))
    except TransitNotFoundError as exc:
        raise HTTPException(status_code=404, detail=f"transit {transit_id} does not exist") from exc


@router.get(
    "/api/history/export/{dataset}",
    tags=["history"],
    responses={
        200: {
            "description": "the export: whole with a Content-Length when small, else streamed (chunked); a "
            "failure after streaming began aborts the body (an incomplete transfer for the client)",
            "content": {media.split(";")[0]: {} for media in exports.MEDIA_TYPES.values()},
        },
        422: {"description": "bad request, or data the database refuses"},
        503: {"description": "the database is unavailable"},
    },
)
async def export(
    request: Request,
    dataset: Literal["tracks", "observations", "alerts", "transits"],
    format: Annotated[Literal["csv", "geojson", "gpkg"], Query(description="every dataset in every format")] = "csv",
    transit_id: Annotated[str | None, Query(description="one transit (else start and end)")] = None,
    seal_id: SealId = None,
    alert_type: AlertTypeQ = None,
    kind: Annotated[str | None, Query(description="observation kind (alerts: deprecated name of alert_type)")] = None,
    start: Annotated[UtcDatetime | None, Query()] = None,
    end: Annotated[UtcDatetime | None, Query()] = None,
    declaration: Declaration = None,
    carrier: Carrier = None,
    route: Route = None,
    channel: Channel = None,
    status: Status = None,
    outcome: OutcomeQ = None,
    seal: OldSeal = None,
) -> Response:
    """Tracks (fixes), observations, alerts or transits as CSV, GeoJSON or GeoPackage. Geometry:
    points for fixes, observations and alerts, the route line for transits. The query runs before the
    answer starts, so a failing one is an error status; a GeoPackage is built whole first."""
    seal_id = deprecated_alias(seal_id, seal, "seal_id", "seal")
    if dataset == "alerts":
        alert_type = deprecated_alias(alert_type, kind, "alert_type", "kind")
        kind = alert_type
    elif dataset == "observations" and alert_type is not None:
        raise HTTPException(status_code=422, detail="observations are selected by kind, not alert_type")
    spec = ExportSpec(transit_id=transit_id, seal_id=seal_id, start=start, end=end, kind=kind)
    tfilter = _filter(
        start, end, seal_id, transit_id, declaration, carrier, route, alert_type, channel, status, outcome
    )
    pool = get_pool(request)
    # The file name goes into a header: only characters that need no quoting or encoding.
    safe_id = re.sub(r"[^A-Za-z0-9_.-]", "_", transit_id) if transit_id else ""
    name = f"sealwatch-{dataset}{'-' + safe_id if safe_id else ''}"
    try:
        if format == "gpkg":
            async with pool.connection() as conn:
                q = await exports.build_query(conn, dataset, spec, tfilter)
                path = await exports.write_gpkg(conn, q.sql, q.params, layer=dataset, geometry=q.geometry)
            return FileResponse(
                path,
                media_type=exports.MEDIA_TYPES["gpkg"],
                filename=f"{name}.gpkg",
                background=BackgroundTask(os.unlink, path),
            )

        async def stream(conn: Any) -> AsyncIterator[bytes]:
            q = await exports.build_query(conn, dataset, spec, tfilter)
            chunks = (
                exports.stream_csv(conn, q.sql, q.params)
                if format == "csv"
                else exports.stream_geojson(conn, q.sql, q.params, q.geometry)
            )
            async for chunk in chunks:
                yield chunk

        log.info("export started", dataset=dataset, format=format, transit_id=transit_id)
        return await export_response(
            pool.connection(),
            stream,
            media_type=exports.MEDIA_TYPES[format],
            headers={"Content-Disposition": f'attachment; filename="{name}.{format}"'},
            what=f"{dataset}.{format}",
        )
    except ExportError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc


@router.get("/api/history/aggregates", response_class=JSON, tags=["history"])
async def get_aggregates(
    conn: Conn,
    bucket: Literal["hour", "day"] = "day",
    route: Annotated[str | None, Query(description="route code ('' = ad-hoc itineraries)")] = None,
    carrier: Annotated[str | None, Query(description="carrier TIN")] = None,
    start: Annotated[UtcDatetime | None, Query()] = None,
    end: Annotated[UtcDatetime | None, Query()] = None,
    group_by: Literal["route_carrier", "route", "carrier"] = "route_carrier",
) -> JSON:
    """Fixes, distance, stops, releases, arrivals, transit duration and alerts per UTC hour or day,
    per route and carrier, from the materialized aggregates (as of their last refresh)."""
    rows = await aggregates.query(conn, bucket, route=route, carrier=carrier, start=start, end=end, group_by=group_by)
    return JSON({"bucket": bucket, "group_by": group_by, "rows": rows})


TrsStart = Annotated[UtcDatetime | None, Query(description="transits released at or after")]
TrsEnd = Annotated[UtcDatetime | None, Query(description="transits released before")]


@router.get("/api/trs", response_class=JSON, tags=["time release study"])
async def trs_summary(
    conn: Conn,
    start: TrsStart = None,
    end: TrsEnd = None,
    route: Route = None,
    channel: Channel = None,
    transits: Annotated[bool, Query(description="also list every transit's figures")] = False,
) -> JSON:
    """Time Release Study: median and p90 of transit and border control times per route, per channel
    and overall (seconds)."""
    f = trs.TrsFilter(start=start, end=end, route=route, channel=channel)
    out = await trs.summary(conn, f)
    if transits:
        out["transits"] = await trs.per_transit(conn, f)
    return JSON(out)


@router.get("/api/trs/transits/{transit_id}", response_class=JSON, tags=["time release study"])
async def trs_transit(transit_id: TransitId, conn: Conn) -> JSON:
    """One transit's TRS figures: border control, transit time against the limit, time per zone."""
    row = await trs.transit(conn, transit_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"transit {transit_id} does not exist")
    return JSON(row)


@router.get("/api/trs/chart.png", tags=["time release study"], response_class=Response)
async def trs_chart(
    conn: Conn, start: TrsStart = None, end: TrsEnd = None, route: Route = None, channel: Channel = None
) -> Response:
    """Box plots: transit time per route (with limits) and border control time per channel."""
    rows = await trs.per_transit(conn, trs.TrsFilter(start=start, end=end, route=route, channel=channel))
    png = await asyncio.to_thread(trs.chart_png, rows)
    return Response(content=png, media_type="image/png")


@router.get("/api/history/transits/{transit_id}/playback", response_class=JSON, tags=["history"])
async def transit_playback(transit_id: TransitId, conn: Conn) -> JSON:
    """What the playback page replays: the transit's summary, route and corridor, each seal's track
    (thinned for the screen; times in epoch ms), alerts with their steps, observations, nearby zones."""
    try:
        detail = await history.transit_detail(conn, transit_id)
    except TransitNotFoundError as exc:
        raise HTTPException(status_code=404, detail=f"transit {transit_id} does not exist") from exc
    track = await history.transit_track(conn, transit_id)
    cur = await conn.execute("SELECT code, name, kind, geometry FROM zones WHERE active ORDER BY code")
    zones = [dict(r) for r in await cur.fetchall()]
    return JSON(await asyncio.to_thread(playback_data, detail, track, zones))
