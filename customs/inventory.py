"""Seal inventory: registration, assignment at release, return at closing.

Assignment takes free seals with ``SELECT ... FOR UPDATE SKIP LOCKED`` so concurrent releases
do not queue on the same row, and the unique partial index ``transit_seals_one_open_per_seal``
guarantees that a seal is never on two open transits, whatever the timing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field

from customs.db import Db
from customs.errors import NoFreeSealError, SealRefusedError
from sealwatch.logging import get_logger

log = get_logger(__name__)

SealStatus = Literal["available", "in_use", "retired"]


class SealIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seal_id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9-]{2,31}$")
    battery_pct: float = Field(ge=0, le=100)
    retired: bool = False


class Seal(BaseModel):
    seal_id: str
    battery_pct: float
    status: SealStatus
    current_transit_id: str | None
    registered_at: datetime
    updated_at: datetime


_COLS = "seal_id, battery_pct, status, current_transit_id, registered_at, updated_at"


async def register(db: Db, seal: SealIn) -> Seal:
    """Register a seal or update its battery (after a recharge); a seal in use keeps its status."""
    async with db.transaction():
        row = await db.one(
            f"""INSERT INTO seals (seal_id, battery_pct, status) VALUES (%(id)s, %(b)s, %(st)s)
                ON CONFLICT (seal_id) DO UPDATE SET battery_pct = EXCLUDED.battery_pct, updated_at = now(),
                    status = CASE WHEN seals.status = 'in_use' THEN seals.status ELSE EXCLUDED.status END
                RETURNING {_COLS}""",
            {"id": seal.seal_id, "b": seal.battery_pct, "st": "retired" if seal.retired else "available"},
        )
    assert row is not None
    return Seal.model_validate(row)


async def list_seals(db: Db, status: str | None = None) -> list[Seal]:
    rows = await db.all(
        f"SELECT {_COLS} FROM seals WHERE (%(s)s::text IS NULL OR status = %(s)s) ORDER BY seal_id", {"s": status}
    )
    return [Seal.model_validate(r) for r in rows]


async def assign(
    db: Db, transit_id: str, count: int, min_battery_pct: float, seal_ids: Sequence[str] | None = None
) -> list[str]:
    """Put ``count`` seals (or the officer's ``seal_ids``) on the transit, inside the caller's transaction."""
    if seal_ids:
        chosen = await _check_requested(db, list(seal_ids), min_battery_pct)
    else:
        rows = await db.all(
            """SELECT seal_id FROM seals WHERE status = 'available' AND battery_pct >= %s
               ORDER BY battery_pct DESC, seal_id LIMIT %s FOR UPDATE SKIP LOCKED""",
            (min_battery_pct, count),
        )
        chosen = [r["seal_id"] for r in rows]
        if len(chosen) < count:
            raise NoFreeSealError(
                f"no free seal: {count} needed, {len(chosen)} available with battery >= {min_battery_pct:g}% "
                "(others are in use, retired, low on battery or being assigned right now)"
            )
    try:
        for seal_id in chosen:
            await db.run("INSERT INTO transit_seals (transit_id, seal_id) VALUES (%s, %s)", (transit_id, seal_id))
            await db.run(
                "UPDATE seals SET status = 'in_use', current_transit_id = %s, updated_at = now() WHERE seal_id = %s",
                (transit_id, seal_id),
            )
    except psycopg.errors.UniqueViolation as exc:
        # The constraint caught a seal already on an open transit: lose the race cleanly.
        raise NoFreeSealError(f"no free seal: seal was taken by another transit ({exc.diag.constraint_name})") from exc
    log.debug("seals assigned", transit_id=transit_id, seals=chosen)
    return chosen


async def _check_requested(db: Db, seal_ids: list[str], min_battery_pct: float) -> list[str]:
    rows = await db.all(f"SELECT {_COLS} FROM seals WHERE seal_id = ANY(%s) ORDER BY seal_id FOR UPDATE", (seal_ids,))
    found = {r["seal_id"]: r for r in rows}
    problems = []
    for seal_id in seal_ids:
        r = found.get(seal_id)
        if r is None:
            problems.append(f"{seal_id} is not registered")
        elif r["status"] == "in_use":
            problems.append(f"{seal_id} is in use on transit {r['current_transit_id']}")
        elif r["status"] == "retired":
            problems.append(f"{seal_id} is retired")
        elif r["battery_pct"] < min_battery_pct:
            problems.append(f"{seal_id} battery {r['battery_pct']:g}% is below {min_battery_pct:g}%")
    if len(set(seal_ids)) != len(seal_ids):
        problems.append("a seal is listed twice")
    if problems:
        raise SealRefusedError("seal refused: " + "; ".join(problems))
    return seal_ids


async def release_seals(db: Db, transit_id: str, at: datetime) -> list[str]:
    """Return the transit's seals to the inventory (available again)."""
    rows = await db.all(
        "UPDATE transit_seals SET returned_at = %s WHERE transit_id = %s AND returned_at IS NULL RETURNING seal_id",
        (at, transit_id),
    )
    seal_ids = [r["seal_id"] for r in rows]
    await db.run(
        """UPDATE seals SET status = 'available', current_transit_id = NULL, updated_at = now()
           WHERE seal_id = ANY(%s) AND current_transit_id = %s""",
        (seal_ids, transit_id),
    )
    log.debug("seals returned", transit_id=transit_id, seals=seal_ids)
    return seal_ids
