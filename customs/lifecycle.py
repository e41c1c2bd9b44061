"""Declaration lifecycle: lodgement, legal status transitions with timestamps and history.

submitted → accepted | held | rejected; held → accepted | rejected; accepted → released;
released → arrived → closed; submitted, held and accepted may be cancelled. Each transition
locks the declaration row, so two officers acting at once cannot both move it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import psycopg
from pydantic import BaseModel

from customs import permits
from customs.db import Db
from customs.declarations import Checked, Declaration, FieldError, Item, Limits, Party, check_declaration
from customs.errors import ConflictError, IllegalTransitionError, NotFoundError
from customs.permits import HoldReason
from customs.reference import Reference
from customs.risk import Assessment, latest_assessment
from sealwatch.logging import get_logger

log = get_logger(__name__)


class Status(StrEnum):
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    HELD = "held"
    RELEASED = "released"
    ARRIVED = "arrived"
    CLOSED = "closed"
    CANCELLED = "cancelled"


ALLOWED: Mapping[Status, frozenset[Status]] = {
    Status.SUBMITTED: frozenset({Status.ACCEPTED, Status.HELD, Status.REJECTED, Status.CANCELLED}),
    Status.HELD: frozenset({Status.ACCEPTED, Status.REJECTED, Status.CANCELLED}),
    Status.ACCEPTED: frozenset({Status.RELEASED, Status.CANCELLED}),
    Status.RELEASED: frozenset({Status.ARRIVED}),
    Status.ARRIVED: frozenset({Status.CLOSED}),
    Status.REJECTED: frozenset(),
    Status.CLOSED: frozenset(),
    Status.CANCELLED: frozenset(),
}


def can_move(current: Status, to: Status) -> bool:
    return to in ALLOWED[current]


def sources(to: Status) -> list[Status]:
    return [s for s, targets in ALLOWED.items() if to in targets]


class HistoryEntry(BaseModel):
    from_status: Status | None
    to_status: Status
    at: datetime
    actor: str
    reason: str


class DeclarationView(BaseModel):
    id: int
    lrn: str | None
    mrn: str | None
    status: Status
    status_reason: str
    declarant: Party
    carrier: Party
    vehicle_plate: str
    trailers: list[str]
    containers: list[str]
    items: list[Item]
    office_of_departure: str
    offices_of_transit: list[str]
    office_of_destination: str
    route_code: str | None
    itinerary_places: list[str]
    seal_count: int
    origin_country: str
    hold_reasons: list[HoldReason]
    submitted_at: datetime
    accepted_at: datetime | None
    rejected_at: datetime | None
    held_at: datetime | None
    released_at: datetime | None
    arrived_at: datetime | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    history: list[HistoryEntry]
    risk: Assessment | None
    transit_id: str | None


class Lodged(BaseModel):
    """The outcome of lodging: errors (nothing stored), or the stored declaration's status."""

    errors: list[FieldError]
    declaration_id: int | None = None
    status: Status | None = None
    hold_reasons: list[HoldReason] = []


async def lock(db: Db, declaration_id: int) -> Status:
    row = await db.one("SELECT status FROM declarations WHERE id = %s FOR UPDATE", (declaration_id,))
    if row is None:
        raise NotFoundError(f"declaration {declaration_id} does not exist")
    return Status(row["status"])


async def transition(
    db: Db, declaration_id: int, to: Status, *, at: datetime, actor: str = "system", reason: str = ""
) -> Status:
    """Move a declaration to ``to`` if legal (409 otherwise); stamps ``<to>_at`` and writes history."""
    current = await lock(db, declaration_id)
    if not can_move(current, to):
        allowed = ", ".join(s.value for s in sources(to)) or "nowhere"
        raise IllegalTransitionError(
            f"declaration {declaration_id} is {current.value}: it cannot become {to.value} (only from {allowed})"
        )
    column = f"{to.value}_at"  # the enum names the column: never user input
    await db.run(
        f"UPDATE declarations SET status = %s, {column} = %s, status_reason = %s, updated_at = now() WHERE id = %s",
        (to.value, at, reason, declaration_id),
    )
    await db.run(
        """INSERT INTO declaration_status_history (declaration_id, from_status, to_status, at, actor, reason)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (declaration_id, current.value, to.value, at, actor, reason),
    )
    log.debug("declaration status", declaration_id=declaration_id, frm=current.value, to=to.value, actor=actor)
    return current


async def lodge(
    db: Db, body: object, ref: Reference, limits: Limits, *, now: datetime | None = None, actor: str = "declarant"
) -> Lodged:
    """Control the body; store it and run the single-window check, or return every error."""
    checked: Checked = check_declaration(body, ref, limits)
    if checked.declaration is None:
        return Lodged(errors=checked.errors)
    decl = checked.declaration
    at = now or datetime.now(UTC)
    try:
        async with db.transaction():
            declaration_id = await _insert(db, decl, body, at, actor)
            _, reasons = await permits.check_items(db, declaration_id, decl.items, decl.declarant.tin, at.date())
            status = await _apply_permit_result(db, declaration_id, reasons, at, actor="single_window")
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(
            f"declarant {decl.declarant.tin} already lodged LRN {decl.lrn!r}", code="duplicate_lrn"
        ) from exc
    return Lodged(errors=[], declaration_id=declaration_id, status=status, hold_reasons=reasons)


async def _insert(db: Db, decl: Declaration, body: object, at: datetime, actor: str) -> int:
    row = await db.one(
        """INSERT INTO declarations (lrn, declarant_tin, declarant_name, carrier_name, carrier_tin, vehicle_plate,
               trailers, containers, office_departure, offices_transit, office_destination, route_code,
               itinerary_places, seal_count, origin_country, body, submitted_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s) RETURNING id""",
        (
            decl.lrn,
            decl.declarant.tin,
            decl.declarant.name,
            decl.carrier.name,
            decl.carrier.tin,
            decl.vehicle_plate,
            list(decl.trailers),
            list(decl.containers),
            decl.office_of_departure,
            list(decl.offices_of_transit),
            decl.office_of_destination,
            decl.route_code,
            list(decl.itinerary_places),
            decl.seal_count,
            decl.origin_country,
            json.dumps(body, default=str),
            at,
        ),
    )
    assert row is not None
    declaration_id = int(row["id"])
    for item in decl.items:
        await db.run(
            """INSERT INTO declaration_items (declaration_id, item_no, hs_code, description, gross_mass_kg,
                   net_mass_kg, value, currency, packages) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                declaration_id,
                item.item_no,
                item.hs_code,
                item.description,
                item.gross_mass_kg,
                item.net_mass_kg,
                item.value,
                item.currency,
                item.packages,
            ),
        )
    await db.run(
        "INSERT INTO declaration_status_history (declaration_id, from_status, to_status, at, actor) "
        "VALUES (%s, NULL, 'submitted', %s, %s)",
        (declaration_id, at, actor),
    )
    log.debug("declaration lodged", declaration_id=declaration_id, declarant=decl.declarant.tin, items=len(decl.items))
    return declaration_id


async def _apply_permit_result(
    db: Db, declaration_id: int, reasons: list[HoldReason], at: datetime, actor: str
) -> Status:
    await db.run(
        "UPDATE declarations SET hold_reasons = %s::jsonb WHERE id = %s",
        (json.dumps([r.model_dump(mode="json") for r in reasons]), declaration_id),
    )
    if reasons:
        summary = "; ".join(f"{r.path}: {r.code.value}" for r in reasons)
        if await lock(db, declaration_id) != Status.HELD:
            await transition(db, declaration_id, Status.HELD, at=at, actor=actor, reason=summary)
        return Status.HELD
    await transition(db, declaration_id, Status.ACCEPTED, at=at, actor=actor, reason="format, logic and permits OK")
    return Status.ACCEPTED


async def recheck(db: Db, declaration_id: int, *, now: datetime | None = None, actor: str = "officer") -> Lodged:
    """Re-run the single-window check on a held declaration (after a permit was added)."""
    at = now or datetime.now(UTC)
    async with db.transaction():
        status = await lock(db, declaration_id)
        if status != Status.HELD:
            raise IllegalTransitionError(
                f"declaration {declaration_id} is {status.value}: only held declarations are re-checked"
            )
        decl = await load_declaration(db, declaration_id)
        _, reasons = await permits.check_items(db, declaration_id, decl.items, decl.declarant.tin, at.date())
        new_status = await _apply_permit_result(db, declaration_id, reasons, at, actor=actor)
    return Lodged(errors=[], declaration_id=declaration_id, status=new_status, hold_reasons=reasons)


async def cancel(
    db: Db, declaration_id: int, *, reason: str, actor: str = "officer", now: datetime | None = None
) -> None:
    """Cancel before release; whatever the declaration drew from permits is given back."""
    async with db.transaction():
        await transition(db, declaration_id, Status.CANCELLED, at=now or datetime.now(UTC), actor=actor, reason=reason)
        returned = await permits.return_usages(db, declaration_id)
    log.info("declaration cancelled", declaration_id=declaration_id, permit_usages_returned=returned)


async def reject(
    db: Db, declaration_id: int, *, reason: str, actor: str = "officer", now: datetime | None = None
) -> None:
    async with db.transaction():
        await transition(db, declaration_id, Status.REJECTED, at=now or datetime.now(UTC), actor=actor, reason=reason)


_ITEM_COLS = "item_no, hs_code, description, gross_mass_kg, net_mass_kg, value, currency, packages"


async def _row(db: Db, declaration_id: int) -> dict[str, Any]:
    row = await db.one("SELECT * FROM declarations WHERE id = %s", (declaration_id,))
    if row is None:
        raise NotFoundError(f"declaration {declaration_id} does not exist")
    return row


async def _items(db: Db, declaration_id: int) -> list[Item]:
    rows = await db.all(
        f"SELECT {_ITEM_COLS} FROM declaration_items WHERE declaration_id = %s ORDER BY item_no", (declaration_id,)
    )
    return [Item.model_validate(r) for r in rows]


def _declaration(row: Mapping[str, Any], items: list[Item]) -> Declaration:
    return Declaration(
        lrn=row["lrn"],
        declarant=Party(tin=row["declarant_tin"], name=row["declarant_name"]),
        carrier=Party(tin=row["carrier_tin"], name=row["carrier_name"]),
        vehicle_plate=row["vehicle_plate"],
        trailers=tuple(row["trailers"]),
        containers=tuple(row["containers"]),
        items=tuple(items),
        office_of_departure=row["office_departure"],
        offices_of_transit=tuple(row["offices_transit"]),
        office_of_destination=row["office_destination"],
        route_code=row["route_code"],
        itinerary_places=tuple(row["itinerary_places"]),
        seal_count=row["seal_count"],
        origin_country=row["origin_country"],
    )


async def load_declaration(db: Db, declaration_id: int) -> Declaration:
    return _declaration(await _row(db, declaration_id), await _items(db, declaration_id))


async def get_view(db: Db, declaration_id: int) -> DeclarationView:
    row = await _row(db, declaration_id)
    decl = _declaration(row, await _items(db, declaration_id))
    history = await db.all(
        """SELECT from_status, to_status, at, actor, reason FROM declaration_status_history
           WHERE declaration_id = %s ORDER BY id""",
        (declaration_id,),
    )
    transit = await db.one("SELECT transit_id FROM transits WHERE declaration_id = %s", (declaration_id,))
    return DeclarationView(
        id=row["id"],
        lrn=row["lrn"],
        mrn=row["mrn"],
        status=Status(row["status"]),
        status_reason=row["status_reason"],
        declarant=decl.declarant,
        carrier=decl.carrier,
        vehicle_plate=decl.vehicle_plate,
        trailers=list(decl.trailers),
        containers=list(decl.containers),
        items=list(decl.items),
        office_of_departure=decl.office_of_departure,
        offices_of_transit=list(decl.offices_of_transit),
        office_of_destination=decl.office_of_destination,
        route_code=decl.route_code,
        itinerary_places=list(decl.itinerary_places),
        seal_count=decl.seal_count,
        origin_country=decl.origin_country,
        hold_reasons=[HoldReason.model_validate(r) for r in row["hold_reasons"]],
        submitted_at=row["submitted_at"],
        accepted_at=row["accepted_at"],
        rejected_at=row["rejected_at"],
        held_at=row["held_at"],
        released_at=row["released_at"],
        arrived_at=row["arrived_at"],
        closed_at=row["closed_at"],
        cancelled_at=row["cancelled_at"],
        history=[HistoryEntry.model_validate(h) for h in history],
        risk=await latest_assessment(db, declaration_id),
        transit_id=transit["transit_id"] if transit else None,
    )


class ControlResults(BaseModel):
    """A stored declaration's control: format and logic re-run on the body as lodged (against today's
    reference data) and the single-window permit check's reasons from its last run."""

    declaration_id: int
    status: Status
    errors: list[FieldError]
    hold_reasons: list[HoldReason]
    checked_at: datetime


async def control_results(db: Db, declaration_id: int, ref: Reference, limits: Limits) -> ControlResults:
    row = await _row(db, declaration_id)
    checked = check_declaration(row["body"], ref, limits)
    return ControlResults(
        declaration_id=declaration_id,
        status=Status(row["status"]),
        errors=checked.errors,
        hold_reasons=[HoldReason.model_validate(r) for r in row["hold_reasons"]],
        checked_at=datetime.now(UTC),
    )
