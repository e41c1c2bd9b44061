"""Telemetry API: health, latest seal positions and tracks as GeoJSON, dead letters, Prometheus metrics."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from psycopg import AsyncConnection
from psycopg.rows import DictRow, tuple_row
from pydantic import BaseModel, Field

import ingest.metrics  # noqa: F401  # registers the ingest metrics so /metrics always names them
from api.deps import Conn, SettingsDep, UtcDatetime, get_pool
from maps.seal_status import STATUS_COLORS, SealStatus, classify
from sealwatch.config import Settings, mqtt_host_port
from sealwatch.logging import get_logger
from store import dead_letters

log = get_logger(__name__)

router = APIRouter()

HEALTH_TIMEOUT_S = 2.0
TRACK_MAX_POINTS = 100_000
TRACK_DEFAULT_SPAN = timedelta(hours=6)
TRACK_MAX_SPAN = timedelta(days=31)

_LATEST_COLUMNS = "seal_id, seq, t, lat, lon, speed_kmh, heading_deg, battery_pct, seal_state"


class GeoJSONResponse(JSONResponse):
    """GeoJSON's registered media type, serialized with orjson (fast for long tracks, UTC times end in Z)."""

    media_type = "application/geo+json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_UTC_Z)


# ---- response models (they document the API; long tracks are serialized without them) ----


class ComponentHealth(BaseModel):
    ok: bool
    target: str | None = Field(default=None, description="host:port checked (no credentials)")
    latency_ms: float | None = None
    error: str | None = None


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    database: ComponentHealth
    broker: ComponentHealth


class PointGeometry(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[lon, lat], WGS 84")


class LineStringGeometry(BaseModel):
    type: Literal["LineString"] = "LineString"
    coordinates: list[tuple[float, float]]


class SealProperties(BaseModel):
    seal_id: str
    seq: int
    t: datetime
    speed_kmh: float | None
    heading_deg: float | None
    battery_pct: float
    seal_state: str
    status: SealStatus
    color: str


class SealFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: PointGeometry
    properties: SealProperties


class SealCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[SealFeature]


class TrackProperties(BaseModel):
    seal_id: str
    start: datetime
    end: datetime
    points: int
    first_t: datetime | None
    last_t: datetime | None
    truncated: bool = Field(description=f"true when the range held more than {TRACK_MAX_POINTS} fixes")


class TrackLineFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: LineStringGeometry | None = Field(description="null when the range holds fewer than 2 fixes")
    properties: TrackProperties


class TrackPointProperties(BaseModel):
    seal_id: str
    seq: int
    t: datetime
    speed_kmh: float | None
    battery_pct: float
    seal_state: str


class TrackPointFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    geometry: PointGeometry
    properties: TrackPointProperties


class TrackCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[TrackLineFeature | TrackPointFeature] = Field(
        description="the LineString first, then one Point per fix when points=true"
    )


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    source: str
    topic: str | None
    reason: str
    detail: str
    payload: str = Field(
        description="raw bytes decoded as UTF-8, undecodable bytes replaced with U+FFFD; truncated above the"
        " store's cap (SEALWATCH_DEAD_LETTER_PAYLOAD_MAX_BYTES)"
    )
    payload_size: int | None = Field(description="length of the payload as received, in bytes")
    payload_sha256: str | None = Field(description="hex sha256 of the payload as received")
    truncated: bool = Field(description="the payload stored is shorter than the one received")


class DroppedOut(BaseModel):
    messages: int
    bytes: int = Field(description="stored payload bytes of the dropped rows")
    last_at: datetime | None


class DeadLetterDropsOut(BaseModel):
    """What the dead-letter store's bounds dropped since it was created, by cause."""

    age: DroppedOut
    per_source: DroppedOut
    total_bytes: DroppedOut


# ---- health ----


async def _check_database(request: Request) -> ComponentHealth:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            async with get_pool(request).connection(timeout=HEALTH_TIMEOUT_S) as conn:
                await conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not healthy"; the text goes to the operator
        return ComponentHealth(ok=False, error=_error_text(exc, "database"))
    return ComponentHealth(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 2))


async def _check_broker(settings: Settings) -> ComponentHealth:
    if not settings.mqtt_url:
        return ComponentHealth(ok=False, error="MQTT_URL is not configured")
    try:
        host, port = mqtt_host_port(settings.mqtt_url)
    except ValueError as exc:
        return ComponentHealth(ok=False, error=str(exc))
    target = f"{host}:{port}"
    started = time.perf_counter()
    try:
        # A TCP connect proves the broker listens without opening an MQTT session it would have to log.
        async with asyncio.timeout(HEALTH_TIMEOUT_S):
            _, writer = await asyncio.open_connection(host, port)
        writer.close()
        await writer.wait_closed()
    except Exception as exc:
        return ComponentHealth(ok=False, target=target, error=_error_text(exc, "broker"))
    return ComponentHealth(ok=True, target=target, latency_ms=round((time.perf_counter() - started) * 1000, 2))


def _error_text(exc: BaseException, what: str) -> str:
    if isinstance(exc, TimeoutError):
        return f"{what} did not answer within {HEALTH_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {exc}".strip()


@router.get(
    "/health",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "database or broker unavailable"}},
    tags=["operations"],
)
async def health(request: Request, settings: SettingsDep) -> JSONResponse:
    """Liveness of the two services the system depends on: PostgreSQL and the MQTT broker."""
    database, broker = await asyncio.gather(_check_database(request), _check_broker(settings))
    ok = database.ok and broker.ok
    report = HealthReport(status="ok" if ok else "degraded", database=database, broker=broker)
    if not ok:
        log.warning("health check failed", database=database.error, broker=broker.error)
    return JSONResponse(report.model_dump(mode="json"), status_code=200 if ok else 503)


# ---- seals ----


def _seal_feature(row: DictRow, now: datetime, settings: Settings) -> SealFeature:
    t = row["t"].astimezone(UTC)
    status = classify(row["seal_state"], t, row["speed_kmh"], row["battery_pct"], now, settings)
    return SealFeature(
        id=row["seal_id"],
        geometry=PointGeometry(coordinates=(row["lon"], row["lat"])),
        properties=SealProperties(
            seal_id=row["seal_id"],
            seq=row["seq"],
            t=t,
            speed_kmh=row["speed_kmh"],
            heading_deg=row["heading_deg"],
            battery_pct=row["battery_pct"],
            seal_state=row["seal_state"],
            status=status,
            color=STATUS_COLORS[status],
        ),
    )


@router.get("/api/seals", response_model=SealCollection, response_class=GeoJSONResponse, tags=["seals"], name="seals")
async def list_seals(
    conn: Conn,
    settings: SettingsDep,
    status: Annotated[SealStatus | None, Query(description="only seals with this status")] = None,
) -> Any:
    """Latest position and status of every seal, as a GeoJSON FeatureCollection of Points."""
    cur = await conn.execute(f"SELECT {_LATEST_COLUMNS} FROM seal_latest ORDER BY seal_id")
    rows = await cur.fetchall()
    now = datetime.now(UTC)
    features = [_seal_feature(row, now, settings) for row in rows]
    # Status depends on the current time, so it is filtered here rather than in SQL.
    if status is not None:
        features = [f for f in features if f.properties.status is status]
    return GeoJSONResponse(SealCollection(features=features).model_dump(mode="python"))


async def _latest_row(conn: AsyncConnection[DictRow], seal_id: str) -> DictRow:
    cur = await conn.execute(f"SELECT {_LATEST_COLUMNS} FROM seal_latest WHERE seal_id = %s", (seal_id,))
    row = await cur.fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail=f"unknown seal {seal_id!r}")
    return row


_UNKNOWN_SEAL: dict[int | str, dict[str, Any]] = {404: {"description": "no fix was ever stored for this seal"}}


@router.get(
    "/api/seals/{seal_id}",
    response_model=SealFeature,
    response_class=GeoJSONResponse,
    responses=_UNKNOWN_SEAL,
    tags=["seals"],
)
async def get_seal(seal_id: str, conn: Conn, settings: SettingsDep) -> Any:
    """One seal's latest position and status as a GeoJSON Feature."""
    row = await _latest_row(conn, seal_id)
    return GeoJSONResponse(_seal_feature(row, datetime.now(UTC), settings).model_dump(mode="python"))


@router.get(
    "/api/seals/{seal_id}/track",
    response_model=TrackCollection,
    response_class=GeoJSONResponse,
    responses=_UNKNOWN_SEAL,
    tags=["seals"],
)
async def get_track(
    seal_id: str,
    conn: Conn,
    start: Annotated[UtcDatetime | None, Query(description="inclusive; default end - 6 h")] = None,
    end: Annotated[UtcDatetime | None, Query(description="inclusive; default now")] = None,
    points: Annotated[bool, Query(description="also return one Point feature per fix")] = False,
) -> Any:
    """The seal's fixes between start and end, ordered by time, as one LineString (at most 100,000 fixes)."""
    end = end or datetime.now(UTC)
    start = start or end - TRACK_DEFAULT_SPAN
    if end <= start:
        raise HTTPException(status_code=422, detail="end must be after start")
    if end - start > TRACK_MAX_SPAN:
        raise HTTPException(status_code=422, detail=f"range longer than {TRACK_MAX_SPAN.days} days")
    await _latest_row(conn, seal_id)

    # Tuples, not dicts: a full-size track is 100k rows and this is the hot loop.
    async with conn.cursor(row_factory=tuple_row) as cur:
        await cur.execute(
            "SELECT lon, lat, t, seq, speed_kmh, battery_pct, seal_state FROM fixes"
            " WHERE seal_id = %s AND t >= %s AND t <= %s ORDER BY t, seq LIMIT %s",
            (seal_id, start, end, TRACK_MAX_POINTS + 1),
        )
        rows = await cur.fetchall()
    truncated = len(rows) > TRACK_MAX_POINTS
    rows = rows[:TRACK_MAX_POINTS]
    if truncated:
        log.info("track truncated", seal_id=seal_id, start=start.isoformat(), end=end.isoformat())

    line: dict[str, Any] = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [(r[0], r[1]) for r in rows]} if len(rows) >= 2 else None,
        "properties": {
            "seal_id": seal_id,
            "start": start.astimezone(UTC),
            "end": end.astimezone(UTC),
            "points": len(rows),
            "first_t": rows[0][2].astimezone(UTC) if rows else None,
            "last_t": rows[-1][2].astimezone(UTC) if rows else None,
            "truncated": truncated,
        },
    }
    features = [line]
    if points:
        features.extend(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": (lon, lat)},
                "properties": {
                    "seal_id": seal_id,
                    "seq": seq,
                    "t": t.astimezone(UTC),
                    "speed_kmh": speed,
                    "battery_pct": battery,
                    "seal_state": state,
                },
            }
            for lon, lat, t, seq, speed, battery, state in rows
        )
    return GeoJSONResponse({"type": "FeatureCollection", "features": features})


# ---- dead letters ----


@router.get("/api/dead-letters", response_model=list[DeadLetterOut], tags=["operations"])
async def list_dead_letters(
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    reason: Annotated[str | None, Query(description="only this reason code")] = None,
) -> list[DeadLetterOut]:
    """The most recent rejected messages and fixes, newest first."""
    where = "WHERE reason = %s" if reason is not None else ""
    params: tuple[object, ...] = (reason, limit) if reason is not None else (limit,)
    cur = await conn.execute(
        "SELECT id, received_at, source, topic, reason, detail, payload, payload_size, payload_sha256"
        f" FROM dead_letters {where} ORDER BY received_at DESC, id DESC LIMIT %s",
        params,
    )
    return [
        DeadLetterOut(
            id=row["id"],
            received_at=row["received_at"].astimezone(UTC),
            source=row["source"],
            topic=row["topic"],
            reason=row["reason"],
            detail=row["detail"],
            payload=bytes(row["payload"]).decode("utf-8", errors="replace"),
            payload_size=row["payload_size"],
            payload_sha256=bytes(row["payload_sha256"]).hex() if row["payload_sha256"] is not None else None,
            truncated=row["payload_size"] is not None and row["payload_size"] > len(row["payload"]),
        )
        for row in await cur.fetchall()
    ]


@router.get("/api/dead-letters/dropped", response_model=DeadLetterDropsOut, tags=["operations"])
async def dead_letter_drops(conn: Conn) -> DeadLetterDropsOut:
    """How many dead letters the store's bounds (age, per source, total bytes) dropped, by cause."""
    cur = await conn.execute("SELECT cause, messages, bytes, last_at FROM dead_letter_drops")
    return DeadLetterDropsOut.model_validate(dead_letters.drops(await cur.fetchall()))


# ---- metrics ----


@router.get("/metrics", response_class=Response, tags=["operations"])
def metrics() -> Response:
    """Prometheus metrics; aggregated over every process when PROMETHEUS_MULTIPROC_DIR is set.

    A plain (sync) endpoint: the multiprocess collector reads files, so it runs in the thread pool.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        data = generate_latest(registry)
    else:
        data = generate_latest(REGISTRY)
    return Response(content=data, media_type=CONTENT_TYPE_LATEST)
