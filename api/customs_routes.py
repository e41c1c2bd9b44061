"""Customs API: reference data, permits, declarations, risk, release, transits, seal inventory.

Domain errors map to HTTP: not found → 404, illegal state (wrong status, no free seal, duplicate)
→ 409, semantically invalid input → 422. Raising rolls the request's transaction back. The live
seal positions are ``/api/seals`` (telemetry); the seal *inventory* lives at ``/api/seal-inventory``.

Who may call what is ``api.auth.ACCESS``; the authenticated user is the actor of every status
change. A ``declarant`` user lodges, reads and cancels only declarations of its own TIN (another
TIN's declaration is, for it, not found).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CurrentUser
from api.deps import Conn, UtcDatetime
from customs import inventory, lifecycle, permits, queue, reference, risk, transits
from customs.db import as_db
from customs.declarations import FieldError, Limits
from customs.errors import ConflictError, CustomsError, InvalidInputError, NotFoundError
from customs.lifecycle import DeclarationView, Status
from customs.permits import HoldReason, PermitIn, PermitOut, PermitRuleIn, PermitRuleOut
from customs.queue import DeclarationPage
from customs.reference import RouteOut, Zone, ZoneIn
from customs.risk import Assessment
from customs.settings import CustomsSettings, get_customs_settings
from customs.transits import TransitView
from sealwatch.logging import get_logger
from store.paging import InvalidCursorError
from store.users import Role, User

log = get_logger(__name__)
router = APIRouter()

CODE = Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")


def customs_settings() -> CustomsSettings:
    return get_customs_settings()


def risk_rng() -> random.Random:
    """Randomness for random selection; tests override this dependency with a seeded Random."""
    return random.SystemRandom()


CustomsSettingsDep = Annotated[CustomsSettings, Depends(customs_settings)]
RngDep = Annotated[random.Random, Depends(risk_rng)]


class ErrorOut(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """How a domain error is answered: ``{"detail": {"code": ..., "message": ...}}``."""

    detail: ErrorOut


@contextmanager
def domain_errors() -> Iterator[None]:
    try:
        yield
    except NotFoundError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"code": exc.code, "message": exc.message}) from exc
    except ConflictError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, {"code": exc.code, "message": exc.message}) from exc
    except InvalidInputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {"code": exc.code, "message": exc.message}) from exc
    except CustomsError as exc:  # any other domain error is a client-visible conflict, never a 500
        raise HTTPException(status.HTTP_409_CONFLICT, {"code": exc.code, "message": exc.message}) from exc


ERRORS: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}}


async def _check_owner(conn: Conn, user: User, declaration_id: int) -> None:
    """A declarant reaches only the declarations of its TIN: any other is not found (no existence leak)."""
    if user.role is not Role.DECLARANT:
        return
    cur = await conn.execute("SELECT declarant_tin FROM declarations WHERE id = %s", (declaration_id,))
    row = await cur.fetchone()
    if row is None or row["declarant_tin"] != user.tin:
        message = f"declaration {declaration_id} does not exist"
        raise HTTPException(status.HTTP_404_NOT_FOUND, {"code": "not_found", "message": message})


def _body_tin(body: Any) -> str | None:
    """The declarant TIN a raw body claims, as the control will store it (stripped), if it is text."""
    declarant = body.get("declarant") if isinstance(body, dict) else None
    tin = declarant.get("tin") if isinstance(declarant, dict) else None
    return tin.strip() if isinstance(tin, str) else None


# -- reference ------------------------------------------------------------------------------------


@router.get("/api/zones", response_model=list[Zone], tags=["reference"])
async def get_zones(conn: Conn, kind: str | None = None, active: bool = False) -> list[Zone]:
    return await reference.list_zones(as_db(conn), kind=kind, active_only=active)


@router.get("/api/zones/{code}", response_model=Zone, responses=ERRORS, tags=["reference"])
async def get_zone(conn: Conn, code: str) -> Zone:
    with domain_errors():
        return await reference.get_zone(as_db(conn), code.upper())


@router.put(
    "/api/zones/{code}",
    response_model=Zone,
    responses={201: {"model": Zone, "description": "created"}},
    tags=["reference"],
)
async def put_zone(conn: Conn, code: Annotated[str, CODE], zone: ZoneIn, response: Response) -> Zone:
    """Create or replace a zone; without ``geometry`` a circle of ``radius_m`` is built in the metric CRS."""
    saved, created = await reference.upsert_zone(as_db(conn), code.upper(), zone)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return saved


@router.get("/api/routes", response_model=list[RouteOut], tags=["reference"])
async def get_routes(conn: Conn) -> list[RouteOut]:
    return await reference.list_routes(as_db(conn))


@router.get("/api/routes/{code}", response_model=RouteOut, responses=ERRORS, tags=["reference"])
async def get_route(conn: Conn, code: str) -> RouteOut:
    with domain_errors():
        return await reference.get_route(as_db(conn), code.upper())


# -- permits -----------------------------------------------------------------------------------------


@router.post("/api/permits", response_model=PermitOut, status_code=201, responses=ERRORS, tags=["permits"])
async def post_permit(conn: Conn, permit: PermitIn) -> PermitOut:
    with domain_errors():
        return await permits.create_permit(as_db(conn), permit)


@router.get("/api/permits", response_model=list[PermitOut], tags=["permits"])
async def get_permits(conn: Conn, holder_tin: str | None = None) -> list[PermitOut]:
    return await permits.list_permits(as_db(conn), holder_tin)


@router.get("/api/permits/{permit_id}", response_model=PermitOut, responses=ERRORS, tags=["permits"])
async def get_permit(conn: Conn, permit_id: int) -> PermitOut:
    with domain_errors():
        return await permits.get_permit(as_db(conn), permit_id)


@router.get("/api/permit-rules", response_model=list[PermitRuleOut], tags=["permits"])
async def get_permit_rules(conn: Conn) -> list[PermitRuleOut]:
    return await permits.list_permit_rules(as_db(conn))


@router.post("/api/permit-rules", response_model=PermitRuleOut, status_code=201, responses=ERRORS, tags=["permits"])
async def post_permit_rule(conn: Conn, rule: PermitRuleIn) -> PermitRuleOut:
    with domain_errors():
        return await permits.create_permit_rule(as_db(conn), rule)


# -- declarations --------------------------------------------------------------------------------------


class LodgeOut(BaseModel):
    id: int
    status: Status
    hold_reasons: list[HoldReason]
    errors: list[FieldError] = []


class ControlErrors(BaseModel):
    detail: str
    errors: list[FieldError]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seal_ids: list[str] | None = Field(default=None, description="officer-chosen seals; default: free seals")
    monitor_all: bool = Field(default=False, description="monitor by e-seal whatever the channel (demo)")


DECLARATION_EXAMPLE: dict[str, Any] = {
    "lrn": "TR-2025-000123",
    "declarant": {"tin": "1234567890", "name": "Absheron Trading LLC"},
    "carrier": {"name": "Anadolu Nakliyat A.S.", "tin": "TR8450012345"},
    "vehicle_plate": "34 ABC 123",
    "trailers": ["34 TR 456"],
    "items": [
        {
            "hs_code": "847130",
            "description": "Portable laptop computers",
            "gross_mass_kg": 1250.0,
            "net_mass_kg": 1100.0,
            "value": 198000.0,
            "currency": "USD",
            "packages": 55,
        }
    ],
    "office_of_departure": "AZRBR",
    "offices_of_transit": ["AZGNJ"],
    "office_of_destination": "AZBAK",
    "itinerary": {"route_code": "RBR-BAK"},
    "seal_count": 1,
    "origin_country": "TR",
}


@router.post(
    "/api/declarations",
    status_code=201,
    response_model=LodgeOut,
    responses={422: {"model": ControlErrors}, 409: {"model": ErrorResponse}},
    tags=["declarations"],
)
async def post_declaration(
    conn: Conn,
    settings: CustomsSettingsDep,
    user: CurrentUser,
    body: Annotated[Any, Body(openapi_examples={"laptops": {"value": DECLARATION_EXAMPLE}})],
) -> LodgeOut | JSONResponse:
    """Lodge a transit declaration: 422 with every per-field error, or 201 with accepted / held.
    A declarant may lodge only as itself (``declarant.tin`` = its TIN, else 403)."""
    if user.role is Role.DECLARANT:
        tin = _body_tin(body)
        if tin is not None and tin != user.tin:
            message = f"you may lodge only as declarant {user.tin}"
            raise HTTPException(status.HTTP_403_FORBIDDEN, {"code": "not_your_tin", "message": message})
    db = as_db(conn)
    ref = await reference.load_reference(db)
    limits = Limits(max_items=settings.max_items, max_seals=settings.max_seals_per_transit)
    with domain_errors():
        lodged = await lifecycle.lodge(db, body, ref, limits, actor=user.name)
    if lodged.declaration_id is None or lodged.status is None:
        payload = ControlErrors(detail=f"{len(lodged.errors)} error(s) in the declaration", errors=lodged.errors)
        return JSONResponse(status_code=422, content=payload.model_dump(mode="json"))
    return LodgeOut(id=lodged.declaration_id, status=lodged.status, hold_reasons=lodged.hold_reasons)


@router.get("/api/declarations", response_model=DeclarationPage, tags=["declarations"])
async def list_declarations(
    conn: Conn,
    user: CurrentUser,
    status_: Annotated[list[Status] | None, Query(alias="status", description="repeatable")] = None,
    declarant_tin: Annotated[str | None, Query(description="a declarant's TIN (a declarant sees only its own)")] = None,
    carrier: Annotated[str | None, Query(description="carrier TIN, or part of its name")] = None,
    route: Annotated[str | None, Query(description="route code")] = None,
    office: Annotated[str | None, Query(description="office of departure, transit or destination")] = None,
    channel: Annotated[Literal["green", "blue", "yellow", "red"] | None, Query(description="risk channel")] = None,
    q: Annotated[str | None, Query(max_length=64, description="LRN, MRN or plate, or part of one")] = None,
    start: Annotated[UtcDatetime | None, Query(description="submitted at or after")] = None,
    end: Annotated[UtcDatetime | None, Query(description="submitted before")] = None,
    order: Annotated[queue.Order, Query(description="oldest first (the queue) or newest first")] = "oldest",
    limit: Annotated[int, Query(ge=1, le=queue.MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> DeclarationPage:
    """The declaration queue: filtered, counted and paged (keyset pages, stable while new ones arrive)."""
    if start is not None and end is not None and end <= start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must be after start")
    if user.role is Role.DECLARANT:
        declarant_tin = user.tin  # its own declarations only, whatever it asked for
    f = queue.DeclarationFilter(
        statuses=tuple(status_ or ()),
        declarant_tin=declarant_tin,
        carrier=carrier,
        route=route.upper() if route else None,
        office=office.upper() if office else None,
        channel=channel,
        search=q,
        start=start,
        end=end,
    )
    try:
        return await queue.list_declarations(as_db(conn), f, order=order, limit=limit, cursor=cursor)
    except InvalidCursorError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from exc


@router.get(
    "/api/declarations/{declaration_id}", response_model=DeclarationView, responses=ERRORS, tags=["declarations"]
)
async def get_declaration(conn: Conn, declaration_id: int, user: CurrentUser) -> DeclarationView:
    await _check_owner(conn, user, declaration_id)
    with domain_errors():
        return await lifecycle.get_view(as_db(conn), declaration_id)


@router.get(
    "/api/declarations/{declaration_id}/control",
    response_model=lifecycle.ControlResults,
    responses=ERRORS,
    tags=["declarations"],
)
async def get_control(
    conn: Conn, declaration_id: int, user: CurrentUser, settings: CustomsSettingsDep
) -> lifecycle.ControlResults:
    """Control results: format and logic re-run on the declaration as lodged, and the permit check's reasons."""
    await _check_owner(conn, user, declaration_id)
    db = as_db(conn)
    limits = Limits(max_items=settings.max_items, max_seals=settings.max_seals_per_transit)
    with domain_errors():
        return await lifecycle.control_results(db, declaration_id, await reference.load_reference(db), limits)


@router.get(
    "/api/declarations/{declaration_id}/permits",
    response_model=list[permits.PermitUsage],
    responses=ERRORS,
    tags=["declarations"],
)
async def get_declaration_permits(conn: Conn, declaration_id: int, user: CurrentUser) -> list[permits.PermitUsage]:
    """The permits the declaration draws on, item by item (a cancelled one's usages are returned)."""
    await _check_owner(conn, user, declaration_id)
    db = as_db(conn)
    with domain_errors():
        await lifecycle.get_view(db, declaration_id)  # 404 for a declaration that does not exist
    return await permits.usages(db, declaration_id)


@router.get(
    "/api/declarations/{declaration_id}/release-preview",
    response_model=transits.ReleasePreview,
    responses=ERRORS,
    tags=["declarations"],
)
async def get_release_preview(conn: Conn, declaration_id: int, settings: CustomsSettingsDep) -> transits.ReleasePreview:
    """What release would set up now: corridor, deadline, the seals it would pick and those to choose from."""
    with domain_errors():
        return await transits.preview(as_db(conn), declaration_id, settings)


@router.post(
    "/api/declarations/{declaration_id}/recheck", response_model=LodgeOut, responses=ERRORS, tags=["declarations"]
)
async def post_recheck(conn: Conn, declaration_id: int, user: CurrentUser) -> LodgeOut:
    """Re-run the single-window permit check of a held declaration."""
    with domain_errors():
        result = await lifecycle.recheck(as_db(conn), declaration_id, actor=user.name)
    assert result.status is not None
    return LodgeOut(id=declaration_id, status=result.status, hold_reasons=result.hold_reasons)


@router.post(
    "/api/declarations/{declaration_id}/risk",
    response_model=Assessment,
    status_code=201,
    responses=ERRORS,
    tags=["declarations"],
)
async def post_risk(conn: Conn, declaration_id: int, settings: CustomsSettingsDep, rng: RngDep) -> Assessment:
    """Assess an accepted declaration under the active risk profile (stored, with the fired rules)."""
    db = as_db(conn)
    with domain_errors():
        async with db.transaction():
            current = await lifecycle.lock(db, declaration_id)
            decl = await lifecycle.load_declaration(db, declaration_id)
            return await risk.assess(db, declaration_id, decl, current.value, settings, rng)


@router.post(
    "/api/declarations/{declaration_id}/release",
    response_model=TransitView,
    status_code=201,
    responses=ERRORS,
    tags=["declarations"],
)
async def post_release(
    conn: Conn,
    declaration_id: int,
    settings: CustomsSettingsDep,
    rng: RngDep,
    user: CurrentUser,
    body: Annotated[ReleaseIn | None, Body()] = None,
) -> TransitView:
    """Release for transit: assigns seals when monitored, builds corridor and deadline."""
    req = body or ReleaseIn()
    with domain_errors():
        return await transits.release(
            as_db(conn),
            declaration_id,
            settings,
            rng,
            seal_ids=req.seal_ids,
            monitor_all=req.monitor_all,
            actor=user.name,
        )


@router.post(
    "/api/declarations/{declaration_id}/cancel", response_model=DeclarationView, responses=ERRORS, tags=["declarations"]
)
async def post_cancel(conn: Conn, declaration_id: int, body: ReasonIn, user: CurrentUser) -> DeclarationView:
    await _check_owner(conn, user, declaration_id)
    db = as_db(conn)
    with domain_errors():
        await lifecycle.cancel(db, declaration_id, reason=body.reason, actor=user.name)
        return await lifecycle.get_view(db, declaration_id)


@router.post(
    "/api/declarations/{declaration_id}/reject", response_model=DeclarationView, responses=ERRORS, tags=["declarations"]
)
async def post_reject(conn: Conn, declaration_id: int, body: ReasonIn, user: CurrentUser) -> DeclarationView:
    db = as_db(conn)
    with domain_errors():
        await lifecycle.reject(db, declaration_id, reason=body.reason, actor=user.name)
        return await lifecycle.get_view(db, declaration_id)


# -- transits ---------------------------------------------------------------------------------------------


class ArriveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: UtcDatetime | None = None


@router.get("/api/transits", response_model=list[TransitView], tags=["transits"])
async def get_transits(
    conn: Conn,
    status_: Annotated[Literal["active", "arrived", "closed"] | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[TransitView]:
    return await transits.list_transits(as_db(conn), status_, limit)


@router.get("/api/transits/{transit_id}", response_model=TransitView, responses=ERRORS, tags=["transits"])
async def get_transit(conn: Conn, transit_id: str) -> TransitView:
    with domain_errors():
        return await transits.get_transit(as_db(conn), transit_id)


@router.post("/api/transits/{transit_id}/arrive", response_model=TransitView, responses=ERRORS, tags=["transits"])
async def post_arrive(
    conn: Conn, transit_id: str, user: CurrentUser, body: Annotated[ArriveIn | None, Body()] = None
) -> TransitView:
    at = (body.at if body else None) or datetime.now(UTC)
    with domain_errors():
        return await transits.record_arrival(as_db(conn), transit_id, at, strict=True, actor=user.name)


@router.post("/api/transits/{transit_id}/close", response_model=TransitView, responses=ERRORS, tags=["transits"])
async def post_close(conn: Conn, transit_id: str, user: CurrentUser) -> TransitView:
    with domain_errors():
        return await transits.close(as_db(conn), transit_id, actor=user.name)


# -- seal inventory ----------------------------------------------------------------------------------------


@router.get("/api/seal-inventory", response_model=list[inventory.Seal], tags=["seal inventory"])
async def get_seal_inventory(
    conn: Conn, status_: Annotated[Literal["available", "in_use", "retired"] | None, Query(alias="status")] = None
) -> list[inventory.Seal]:
    return await inventory.list_seals(as_db(conn), status_)


@router.post("/api/seal-inventory", response_model=inventory.Seal, status_code=201, tags=["seal inventory"])
async def post_seal(conn: Conn, seal: inventory.SealIn) -> inventory.Seal:
    """Register a seal, or record its battery after a recharge."""
    return await inventory.register(as_db(conn), seal)
