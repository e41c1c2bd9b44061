"""The declaration queue: declarations filtered and paged for officers (and a declarant's own).

Sorted by submission time with the id as tie-breaker: ``oldest`` first (the order a queue is
worked in) or ``newest`` first; pages are keyset pages (``store.paging``), so declarations lodged
while an officer pages never shift or repeat rows. The page also counts every match.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from psycopg import sql
from pydantic import BaseModel

from customs.db import Db
from customs.lifecycle import Status
from store.history import contains
from store.paging import decode_cursor, encode_cursor

MAX_PAGE = 200
Order = Literal["oldest", "newest"]


@dataclass(frozen=True, slots=True)
class DeclarationFilter:
    """Every filter is optional; they combine with AND."""

    statuses: tuple[Status, ...] = ()
    declarant_tin: str | None = None
    carrier: str | None = None  # carrier TIN, or part of its name (case-insensitive)
    route: str | None = None
    office: str | None = None  # office of departure, transit or destination
    channel: str | None = None  # the latest risk assessment's channel
    search: str | None = None  # LRN, MRN or vehicle plate, or part of one
    start: datetime | None = None  # submitted at or after
    end: datetime | None = None  # submitted before


class DeclarationSummary(BaseModel):
    id: int
    lrn: str | None
    mrn: str | None
    status: Status
    status_reason: str
    declarant_tin: str
    declarant_name: str
    carrier_name: str
    carrier_tin: str
    vehicle_plate: str
    route_code: str | None
    office_of_departure: str
    office_of_destination: str
    origin_country: str
    items: int
    seal_count: int
    hold_reasons: int
    channel: str | None
    transit_id: str | None
    submitted_at: datetime
    updated_at: datetime


class DeclarationPage(BaseModel):
    items: list[DeclarationSummary]
    total: int
    next_cursor: str | None


_LATEST_CHANNEL = sql.SQL(
    "(SELECT ra.channel FROM risk_assessments ra WHERE ra.declaration_id = d.id ORDER BY ra.id DESC LIMIT 1)"
)


def _where(f: DeclarationFilter) -> tuple[list[sql.Composable], dict[str, Any]]:
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {}

    def add(clause: sql.Composable, **values: Any) -> None:
        clauses.append(clause)
        params.update(values)

    if f.statuses:
        add(sql.SQL("d.status = ANY(%(statuses)s)"), statuses=[s.value for s in f.statuses])
    if f.declarant_tin is not None:
        add(sql.SQL("d.declarant_tin = %(declarant)s"), declarant=f.declarant_tin)
    if f.carrier is not None:
        add(
            sql.SQL("(d.carrier_tin = %(carrier)s OR d.carrier_name ILIKE %(carrier_like)s)"),
            carrier=f.carrier,
            carrier_like=contains(f.carrier),
        )
    if f.route is not None:
        add(sql.SQL("d.route_code = %(route)s"), route=f.route)
    if f.office is not None:
        add(
            sql.SQL(
                "(d.office_departure = %(office)s OR d.office_destination = %(office)s"
                " OR %(office)s = ANY(d.offices_transit))"
            ),
            office=f.office,
        )
    if f.channel is not None:
        add(sql.SQL("{} = %(channel)s").format(_LATEST_CHANNEL), channel=f.channel)
    if f.search is not None:
        add(
            sql.SQL("(d.lrn ILIKE %(q)s OR d.mrn ILIKE %(q)s OR d.vehicle_plate ILIKE %(q)s)"),
            q=contains(f.search),
        )
    if f.start is not None:
        add(sql.SQL("d.submitted_at >= %(start)s"), start=f.start)
    if f.end is not None:
        add(sql.SQL("d.submitted_at < %(end)s"), end=f.end)
    return clauses, params


async def list_declarations(
    db: Db, f: DeclarationFilter, *, order: Order = "oldest", limit: int = 50, cursor: str | None = None
) -> DeclarationPage:
    """One page of declarations matching ``f`` (raises store.paging.InvalidCursorError for a bad cursor)."""
    limit = max(1, min(limit, MAX_PAGE))
    clauses, params = _where(f)
    where = sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("true")
    counted = await db.one(sql.SQL("SELECT count(*) AS n FROM declarations d WHERE {}").format(where), params)
    direction = sql.SQL("ASC" if order == "oldest" else "DESC")
    page_clauses = list(clauses)
    if cursor is not None:
        at, last_id = decode_cursor(cursor, int)
        comparison = ">" if order == "oldest" else "<"
        page_clauses.append(sql.SQL("(d.submitted_at, d.id) " + comparison + " (%(c_at)s, %(c_id)s)"))
        params.update(c_at=at, c_id=last_id)
    page_where = sql.SQL(" AND ").join(page_clauses) if page_clauses else sql.SQL("true")
    rows = await db.all(
        sql.SQL(
            """SELECT d.id, d.lrn, d.mrn, d.status, d.status_reason, d.declarant_tin, d.declarant_name,
                      d.carrier_name, d.carrier_tin, d.vehicle_plate, d.route_code,
                      d.office_departure AS office_of_departure, d.office_destination AS office_of_destination,
                      d.origin_country, d.seal_count, jsonb_array_length(d.hold_reasons) AS hold_reasons,
                      (SELECT count(*) FROM declaration_items i WHERE i.declaration_id = d.id) AS items,
                      {channel} AS channel,
                      (SELECT t.transit_id FROM transits t WHERE t.declaration_id = d.id) AS transit_id,
                      d.submitted_at, d.updated_at
               FROM declarations d WHERE {where}
               ORDER BY d.submitted_at {dir}, d.id {dir} LIMIT %(limit)s"""
        ).format(channel=_LATEST_CHANNEL, where=page_where, dir=direction),
        {**params, "limit": limit + 1},
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1]["submitted_at"], rows[-1]["id"]) if more and rows else None
    return DeclarationPage(
        items=[DeclarationSummary.model_validate(r) for r in rows],
        total=int(counted["n"]) if counted else 0,
        next_cursor=next_cursor,
    )
