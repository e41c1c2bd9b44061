"""Single window: permits issued by other agencies, the rules that require them, and the check.

:func:`evaluate` is pure: given the goods items, the rules and the candidate permits, it either
allocates one valid permit per (item, required type) or gives per-item reasons. The database
side locks the candidate permits (``FOR UPDATE``) so two declarations cannot both draw the last
kilograms of one permit; a CHECK constraint on ``used_kg`` backs that up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from customs.db import Db
from customs.declarations import ErrorCode, FieldError, Item, declarant_tin_ok
from customs.errors import ConflictError, InvalidInputError, NotFoundError
from sealwatch.logging import get_logger

log = get_logger(__name__)


class HoldReason(FieldError):
    """Why an item holds the declaration: a FieldError naming the permit type it needs."""

    permit_type: str


@dataclass(frozen=True, slots=True)
class Rule:
    hs_prefix: str
    permit_type: str


@dataclass(frozen=True, slots=True)
class Permit:
    id: int
    permit_no: str
    permit_type: str
    holder_tin: str
    hs_prefixes: tuple[str, ...]
    quantity_kg: Decimal
    used_kg: Decimal
    valid_from: date
    valid_to: date

    def covers(self, hs_code: str) -> bool:
        return any(hs_code.startswith(p) for p in self.hs_prefixes)


@dataclass(frozen=True, slots=True)
class Allocation:
    item_no: int
    permit_id: int
    permit_type: str
    quantity_kg: Decimal


def required_types(hs_code: str, rules: Iterable[Rule]) -> list[str]:
    return sorted({r.permit_type for r in rules if hs_code.startswith(r.hs_prefix)})


def evaluate(
    items: Sequence[Item], holder_tin: str, rules: Sequence[Rule], permits: Sequence[Permit], on: date
) -> tuple[list[Allocation], list[HoldReason]]:
    """One permit per (item, required type), drawing net mass; or the reasons it is impossible."""
    remaining = {p.id: p.quantity_kg - p.used_kg for p in permits}
    allocations: list[Allocation] = []
    reasons: list[HoldReason] = []
    for index, item in enumerate(items):
        path = f"items/{index}"
        for ptype in required_types(item.hs_code, rules):
            covering = [p for p in permits if p.permit_type == ptype and p.covers(item.hs_code)]
            mine = [p for p in covering if p.holder_tin == holder_tin]
            valid = [p for p in mine if p.valid_from <= on <= p.valid_to]
            enough = [p for p in valid if remaining[p.id] >= item.net_mass_kg]

            def hold(code: ErrorCode, message: str, ptype: str = ptype, path: str = path) -> None:
                reasons.append(HoldReason(path=path, code=code, message=message, permit_type=ptype))

            if not covering:
                hold(ErrorCode.PERMIT_MISSING, f"HS {item.hs_code} needs a {ptype} permit; none covers it")
            elif not mine:
                nos = ", ".join(p.permit_no for p in covering)
                msg = f"{ptype} permit(s) {nos} cover HS {item.hs_code} but are not issued to {holder_tin}"
                hold(ErrorCode.PERMIT_WRONG_HOLDER, msg)
            elif not valid:
                nos = ", ".join(f"{p.permit_no} ({p.valid_from}..{p.valid_to})" for p in mine)
                hold(ErrorCode.PERMIT_EXPIRED, f"no {ptype} permit valid on {on}: {nos}")
            elif not enough:
                left = max(remaining[p.id] for p in valid)
                hold(
                    ErrorCode.PERMIT_EXHAUSTED,
                    f"{ptype} permit quantity exhausted: {item.net_mass_kg} kg needed, at most {left} kg left",
                )
            else:
                # Use the permit that expires first, so long-lived ones stay available.
                chosen = min(enough, key=lambda p: (p.valid_to, p.id))
                remaining[chosen.id] -= item.net_mass_kg
                allocations.append(Allocation(item.item_no, chosen.id, ptype, item.net_mass_kg))
    return allocations, reasons


def _prefixes(hs_codes: Iterable[str]) -> list[str]:
    return sorted({code[:n] for code in hs_codes for n in range(2, len(code) + 1)})


async def load_rules(db: Db) -> list[Rule]:
    rows = await db.all("SELECT hs_prefix, permit_type FROM permit_rules ORDER BY id")
    return [Rule(r["hs_prefix"], r["permit_type"]) for r in rows]


async def lock_candidates(db: Db, types: Sequence[str], hs_codes: Iterable[str]) -> list[Permit]:
    """Permits of the given types that could cover the codes, locked in id order (no deadlocks)."""
    rows = await db.all(
        """SELECT id, permit_no, permit_type, holder_tin, hs_prefixes, quantity_kg, used_kg, valid_from, valid_to
           FROM permits WHERE permit_type = ANY(%s) AND hs_prefixes && %s::text[]
           ORDER BY id FOR UPDATE""",
        (list(types), _prefixes(hs_codes)),
    )
    return [
        Permit(
            id=r["id"],
            permit_no=r["permit_no"],
            permit_type=r["permit_type"],
            holder_tin=r["holder_tin"],
            hs_prefixes=tuple(r["hs_prefixes"]),
            quantity_kg=r["quantity_kg"],
            used_kg=r["used_kg"],
            valid_from=r["valid_from"],
            valid_to=r["valid_to"],
        )
        for r in rows
    ]


async def check_items(
    db: Db, declaration_id: int, items: Sequence[Item], holder_tin: str, on: date
) -> tuple[list[Allocation], list[HoldReason]]:
    """Evaluate and, when every item is covered, draw the permits down (in the caller's transaction)."""
    rules = await load_rules(db)
    types = sorted({t for item in items for t in required_types(item.hs_code, rules)})
    if not types:
        return [], []
    permits = await lock_candidates(db, types, [i.hs_code for i in items])
    allocations, reasons = evaluate(items, holder_tin, rules, permits, on)
    if reasons:
        return [], reasons
    for a in allocations:
        await db.run("UPDATE permits SET used_kg = used_kg + %s WHERE id = %s", (a.quantity_kg, a.permit_id))
        await db.run(
            "INSERT INTO permit_usages (permit_id, declaration_id, item_no, quantity_kg) VALUES (%s, %s, %s, %s)",
            (a.permit_id, declaration_id, a.item_no, a.quantity_kg),
        )
    log.debug("permits drawn", declaration_id=declaration_id, allocations=len(allocations))
    return allocations, []


async def return_usages(db: Db, declaration_id: int) -> int:
    """Give back what a cancelled declaration drew; returns how many usages were returned."""
    rows = await db.all(
        """UPDATE permit_usages SET returned_at = now()
           WHERE declaration_id = %s AND returned_at IS NULL RETURNING permit_id, quantity_kg""",
        (declaration_id,),
    )
    for r in rows:
        await db.run("UPDATE permits SET used_kg = used_kg - %s WHERE id = %s", (r["quantity_kg"], r["permit_id"]))
    return len(rows)


# -- permits and rules as the API sees them ------------------------------------------------------


class PermitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    permit_no: str = Field(min_length=1, max_length=40)
    permit_type: str = Field(min_length=1, max_length=20)
    holder_tin: str
    hs_prefixes: list[str] = Field(min_length=1, max_length=100)
    quantity_kg: Decimal = Field(gt=0, lt=Decimal("1e11"))
    valid_from: date
    valid_to: date

    @field_validator("holder_tin")
    @classmethod
    def _tin(cls, v: str) -> str:
        if not declarant_tin_ok(v):
            raise ValueError("holder_tin must be 10 digits (VÖEN)")
        return v

    @field_validator("hs_prefixes")
    @classmethod
    def _hs(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if not (p.isdigit() and 2 <= len(p) <= 10)]
        if bad:
            raise ValueError(f"HS prefixes must be 2 to 10 digits: {bad}")
        return v

    @model_validator(mode="after")
    def _dates(self) -> PermitIn:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to must not be before valid_from")
        return self


class PermitOut(BaseModel):
    id: int
    permit_no: str
    permit_type: str
    agency_code: str
    holder_tin: str
    hs_prefixes: list[str]
    quantity_kg: Decimal
    used_kg: Decimal
    valid_from: date
    valid_to: date
    issued_at: datetime


_PERMIT_SELECT = """SELECT p.id, p.permit_no, p.permit_type, t.agency_code, p.holder_tin, p.hs_prefixes,
                          p.quantity_kg, p.used_kg, p.valid_from, p.valid_to, p.issued_at
                   FROM permits p JOIN permit_types t ON t.code = p.permit_type"""


async def create_permit(db: Db, permit: PermitIn) -> PermitOut:
    try:
        async with db.transaction():
            row = await db.one(
                """INSERT INTO permits
                       (permit_no, permit_type, holder_tin, hs_prefixes, quantity_kg, valid_from, valid_to)
                   VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id""",
                (
                    permit.permit_no,
                    permit.permit_type,
                    permit.holder_tin,
                    permit.hs_prefixes,
                    permit.quantity_kg,
                    permit.valid_from,
                    permit.valid_to,
                ),
            )
    except psycopg.errors.UniqueViolation as exc:
        raise ConflictError(f"permit {permit.permit_no!r} already exists", code="duplicate_permit") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InvalidInputError(f"unknown permit type {permit.permit_type!r}", code="unknown_permit_type") from exc
    assert row is not None
    log.info("permit issued", permit_no=permit.permit_no, type=permit.permit_type, holder=permit.holder_tin)
    return await get_permit(db, int(row["id"]))


async def get_permit(db: Db, permit_id: int) -> PermitOut:
    row = await db.one(_PERMIT_SELECT + " WHERE p.id = %s", (permit_id,))
    if row is None:
        raise NotFoundError(f"permit {permit_id} does not exist")
    return PermitOut.model_validate(row)


async def list_permits(db: Db, holder_tin: str | None = None) -> list[PermitOut]:
    rows = await db.all(
        _PERMIT_SELECT + " WHERE (%(h)s::text IS NULL OR p.holder_tin = %(h)s) ORDER BY p.id", {"h": holder_tin}
    )
    return [PermitOut.model_validate(r) for r in rows]


class PermitRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hs_prefix: str = Field(pattern=r"^[0-9]{2,10}$")
    permit_type: str = Field(min_length=1, max_length=20)
    note: str = ""


class PermitRuleOut(PermitRuleIn):
    id: int
    agency_code: str


async def list_permit_rules(db: Db) -> list[PermitRuleOut]:
    rows = await db.all(
        """SELECT r.id, r.hs_prefix, r.permit_type, r.note, t.agency_code
           FROM permit_rules r JOIN permit_types t ON t.code = r.permit_type ORDER BY r.hs_prefix, r.permit_type"""
    )
    return [PermitRuleOut.model_validate(r) for r in rows]


async def create_permit_rule(db: Db, rule: PermitRuleIn) -> PermitRuleOut:
    try:
        async with db.transaction():
            row = await db.one(
                "INSERT INTO permit_rules (hs_prefix, permit_type, note) VALUES (%s, %s, %s) RETURNING id",
                (rule.hs_prefix, rule.permit_type, rule.note),
            )
    except psycopg.errors.UniqueViolation as exc:
        message = f"rule {rule.hs_prefix} → {rule.permit_type} already exists"
        raise ConflictError(message, code="duplicate_rule") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InvalidInputError(f"unknown permit type {rule.permit_type!r}", code="unknown_permit_type") from exc
    assert row is not None
    out: dict[str, Any] = {**rule.model_dump(), "id": row["id"]}
    types = await db.one("SELECT agency_code FROM permit_types WHERE code = %s", (rule.permit_type,))
    out["agency_code"] = types["agency_code"] if types else ""
    return PermitRuleOut.model_validate(out)


class PermitUsage(BaseModel):
    """What a declaration's item drew from a permit (``returned_at`` set when a cancellation gave it back)."""

    permit_id: int
    permit_no: str
    permit_type: str
    agency_code: str
    item_no: int
    quantity_kg: Decimal
    used_at: datetime
    returned_at: datetime | None
    permit_quantity_kg: Decimal
    permit_used_kg: Decimal
    valid_to: date


async def usages(db: Db, declaration_id: int) -> list[PermitUsage]:
    """The permits a declaration draws on, item by item."""
    rows = await db.all(
        """SELECT u.permit_id, p.permit_no, p.permit_type, t.agency_code, u.item_no, u.quantity_kg, u.used_at,
                  u.returned_at, p.quantity_kg AS permit_quantity_kg, p.used_kg AS permit_used_kg, p.valid_to
           FROM permit_usages u JOIN permits p ON p.id = u.permit_id JOIN permit_types t ON t.code = p.permit_type
           WHERE u.declaration_id = %s ORDER BY u.item_no, u.id""",
        (declaration_id,),
    )
    return [PermitUsage.model_validate(r) for r in rows]
