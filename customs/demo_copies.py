"""A large demo fleet in seconds: transits copied from ones released through the whole lifecycle.

Releasing one declaration through customs (lodging, permit check, risk, release, seal assignment)
takes some fifty statements; ten thousand of them took minutes. Past a few dozen templates, each
further demo seal gets a copy of a template's declaration, items, permit draws, status history,
risk assessment and transit, with its own seal, LRN, MRN, plate and times, written a thousand at
a time by set-based statements (the audit triggers still record every row).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from customs.db import Db
from customs.transits import ReleasedTransit, mrn

CHUNK = 100


@dataclass(frozen=True)
class Copy:
    """One seal to release as a copy of the template transit's declaration."""

    seal_id: str
    lrn: str
    battery_pct: float
    plate: str
    template_transit_id: str
    submitted_at: datetime
    released_at: datetime


_INSERT_SEALS = """INSERT INTO seals (seal_id, battery_pct)
    SELECT * FROM unnest(%(seal)s::text[], %(battery)s::real[])"""

_INSERT_DECLARATIONS = """
    INSERT INTO declarations (lrn, mrn, status, declarant_tin, declarant_name, carrier_name, carrier_tin,
        vehicle_plate, trailers, containers, office_departure, offices_transit, office_destination, route_code,
        itinerary_places, seal_count, origin_country, body, hold_reasons, status_reason, submitted_at, accepted_at,
        released_at, updated_at)
    SELECT c.lrn, c.transit_id, d.status, d.declarant_tin, d.declarant_name, d.carrier_name, d.carrier_tin,
        c.plate, d.trailers, d.containers, d.office_departure, d.offices_transit, d.office_destination,
        d.route_code, d.itinerary_places, d.seal_count, d.origin_country,
        d.body || jsonb_build_object('lrn', c.lrn, 'vehicle_plate', c.plate), d.hold_reasons, d.status_reason,
        c.submitted_at, c.submitted_at, c.released_at, c.released_at
    FROM unnest(%(ord)s::int[], %(template)s::text[], %(lrn)s::text[], %(transit)s::text[], %(plate)s::text[],
                %(submitted)s::timestamptz[], %(released)s::timestamptz[])
         AS c(ord, template, lrn, transit_id, plate, submitted_at, released_at)
    JOIN transits t ON t.transit_id = c.template
    JOIN declarations d ON d.id = t.declaration_id
    ORDER BY c.ord"""

# The copies' declarations, with the template's declaration and the copy's times.
_COPIES = """
    WITH c AS (
        SELECT * FROM unnest(%(template)s::text[], %(transit)s::text[], %(seal)s::text[],
                             %(submitted)s::timestamptz[], %(released)s::timestamptz[])
             AS c(template, transit_id, seal_id, submitted_at, released_at)
    )
    SELECT c.*, t.declaration_id AS template_declaration, nd.id AS declaration_id
    FROM c JOIN transits t ON t.transit_id = c.template JOIN declarations nd ON nd.mrn = c.transit_id"""

_CREATE_COPIES = """CREATE TEMP TABLE IF NOT EXISTS copies (template text, transit_id text, seal_id text,
    submitted_at timestamptz, released_at timestamptz, template_declaration bigint, declaration_id bigint)
    ON COMMIT DROP"""

_INSERT_DEPENDENTS = (
    """INSERT INTO declaration_items (declaration_id, item_no, hs_code, description, gross_mass_kg, net_mass_kg,
           value, currency, packages)
       SELECT c.declaration_id, i.item_no, i.hs_code, i.description, i.gross_mass_kg, i.net_mass_kg, i.value,
           i.currency, i.packages
       FROM copies c JOIN declaration_items i ON i.declaration_id = c.template_declaration""",
    """INSERT INTO declaration_status_history (declaration_id, from_status, to_status, at, actor, reason)
       SELECT c.declaration_id, h.from_status, h.to_status,
           CASE WHEN h.to_status IN ('submitted', 'accepted', 'held') THEN c.submitted_at ELSE c.released_at END,
           h.actor, h.reason
       FROM copies c JOIN declaration_status_history h ON h.declaration_id = c.template_declaration
       ORDER BY c.declaration_id, h.id""",
    """INSERT INTO permit_usages (permit_id, declaration_id, item_no, quantity_kg, used_at)
       SELECT u.permit_id, c.declaration_id, u.item_no, u.quantity_kg, c.submitted_at
       FROM copies c JOIN permit_usages u ON u.declaration_id = c.template_declaration AND u.returned_at IS NULL""",
    """INSERT INTO risk_assessments (declaration_id, profile_version, score, channel, score_channel,
           random_selected, fired, controls, monitored, assessed_at)
       SELECT c.declaration_id, r.profile_version, r.score, r.channel, r.score_channel, r.random_selected, r.fired,
           r.controls, r.monitored, c.released_at
       FROM copies c JOIN LATERAL (SELECT * FROM risk_assessments r WHERE r.declaration_id = c.template_declaration
                                   ORDER BY r.id DESC LIMIT 1) r ON true""",
    """INSERT INTO transits (transit_id, declaration_id, seal_id, route_code, route_line, corridor, corridor_width_m,
           office_departure, office_destination, channel, monitored, released_at, deadline, route_version,
           segment_widths)
       SELECT c.transit_id, c.declaration_id, c.seal_id, t.route_code, t.route_line, t.corridor, t.corridor_width_m,
           t.office_departure, t.office_destination, t.channel, t.monitored, c.released_at,
           c.released_at + (t.deadline - t.released_at), t.route_version, t.segment_widths
       FROM copies c JOIN transits t ON t.transit_id = c.template""",
    """INSERT INTO transit_seals (transit_id, seal_id, assigned_at)
       SELECT c.transit_id, c.seal_id, c.released_at FROM copies c""",
    """UPDATE seals s SET status = 'in_use', current_transit_id = c.transit_id, updated_at = now()
       FROM copies c WHERE s.seal_id = c.seal_id""",
)


async def release_copies(db: Db, copies: Sequence[Copy]) -> list[ReleasedTransit]:
    """Release every copy (one transaction per chunk); returns the transits in the copies' order."""
    out: list[ReleasedTransit] = []
    for start in range(0, len(copies), CHUNK):
        out += await _release_chunk(db, copies[start : start + CHUNK])
    return out


async def _release_chunk(db: Db, chunk: Sequence[Copy]) -> list[ReleasedTransit]:
    async with db.transaction():
        templates = await db.all(
            """SELECT transit_id, office_departure, route_code, deadline - released_at AS time_limit
               FROM transits WHERE transit_id = ANY(%s)""",
            (sorted({c.template_transit_id for c in chunk}),),
        )
        by_id = {r["transit_id"]: r for r in templates}
        numbers = await db.all("SELECT nextval('mrn_seq') AS n FROM generate_series(1, %s)", (len(chunk),))
        transit_ids = [
            mrn(c.released_at.year, by_id[c.template_transit_id]["office_departure"], int(n["n"]))
            for c, n in zip(chunk, numbers, strict=True)
        ]
        params = {
            "ord": list(range(len(chunk))),
            "template": [c.template_transit_id for c in chunk],
            "seal": [c.seal_id for c in chunk],
            "battery": [c.battery_pct for c in chunk],
            "lrn": [c.lrn for c in chunk],
            "transit": transit_ids,
            "plate": [c.plate for c in chunk],
            "submitted": [c.submitted_at for c in chunk],
            "released": [c.released_at for c in chunk],
        }
        await db.run(_INSERT_SEALS, params)
        await db.run(_INSERT_DECLARATIONS, params)
        await db.run(_CREATE_COPIES)
        await db.run("DELETE FROM copies")  # left over when this ran inside an outer transaction
        await db.run(f"INSERT INTO copies {_COPIES}", params)
        for statement in _INSERT_DEPENDENTS:
            await db.run(statement)
    return [
        ReleasedTransit(
            transit_id,
            c.seal_id,
            by_id[c.template_transit_id]["route_code"],
            c.released_at,
            c.released_at + by_id[c.template_transit_id]["time_limit"],
        )
        for c, transit_id in zip(chunk, transit_ids, strict=True)
    ]


def copy_times(rng: random.Random, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(submitted, released) as the lifecycle path draws them: released within the last 150 minutes."""
    released_at = (now or datetime.now(UTC)) - timedelta(minutes=rng.uniform(0, 150))
    return released_at - timedelta(minutes=rng.uniform(20, 60)), released_at
