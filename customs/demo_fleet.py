"""Demo fleet: register seals and push realistic declarations through customs into transits.

Every simulated seal then belongs to a real, released transit with a corridor and deadline.
Calling it again on a seeded database reuses the seals' active transits instead of duplicating.
"""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from customs import lifecycle, risk, transits
from customs.db import AnyConnection, Db, as_db
from customs.declarations import Limits, iso6346_check_digit
from customs.demo_copies import CHUNK, Copy, copy_times, release_copies
from customs.lifecycle import Status
from customs.permits import load_rules, required_types
from customs.reference import OFFICE_KINDS, load_reference
from customs.settings import CustomsSettings, get_customs_settings
from customs.transits import ReleasedTransit, released
from sealwatch.geography import ROUTES
from sealwatch.logging import get_logger

log = get_logger(__name__)

__all__ = ["ReleasedTransit", "release_demo_fleet", "release_demo_fleet_async"]

# (HS code, description, USD per kg, typical net kg per item)
GOODS: tuple[tuple[str, str, float, tuple[int, int]], ...] = (
    ("870323", "Passenger cars, spark-ignition, 1500-3000 cc", 9.0, (1200, 3600)),
    ("847130", "Portable laptop computers", 180.0, (300, 2500)),
    ("851713", "Smartphones", 400.0, (200, 1500)),
    ("721420", "Steel reinforcing bars, hot-rolled", 0.7, (8000, 22000)),
    ("392010", "Polyethylene film, not reinforced", 1.8, (4000, 16000)),
    ("610910", "Cotton T-shirts, knitted", 12.0, (1500, 6000)),
    ("940360", "Wooden furniture", 4.5, (2000, 9000)),
    ("220421", "Wine in containers of 2 l or less", 4.0, (5000, 15000)),
    ("401120", "New pneumatic tyres for buses and lorries", 3.2, (3000, 12000)),
    ("080510", "Fresh oranges", 0.9, (8000, 20000)),
    ("020130", "Fresh boneless beef", 6.5, (6000, 18000)),
    ("090240", "Black tea, fermented", 4.2, (3000, 12000)),
    ("300490", "Medicaments, packaged for retail sale", 60.0, (500, 4000)),
    ("060311", "Fresh cut roses", 5.0, (1000, 5000)),
    ("271019", "Lubricating oils", 1.5, (8000, 20000)),
)
ORIGINS: dict[str, tuple[str, ...]] = {
    "AZRBR": ("GE", "TR", "DE", "IT", "UA", "PL"),
    "AZBLK": ("GE", "TR", "BG"),
    "AZAST": ("IR", "TR", "AE", "IN"),
    "AZSAM": ("RU", "BY", "KZ", "CN"),
}
CARRIERS: tuple[tuple[str, str], ...] = (
    ("Caspian Logistics LLC", "1402345678"),
    ("Silk Way Trans", "1700456123"),
    ("Anadolu Nakliyat A.S.", "TR8450012345"),
    ("Georgian Transit Co", "GE204567891"),
    ("Volga Freight OOO", "RU7701234567"),
    ("Tabriz Road Transport", "IR10103456789"),
)
CURRENCIES = ("USD", "EUR", "AZN")
# Seals released through the whole customs lifecycle; further seals of a large fleet copy them
# (customs.demo_copies), which is what makes ten thousand seals a matter of seconds.
TEMPLATES = 40


def _plate(rng: random.Random, origin: str) -> str:
    letters = string.ascii_uppercase
    if origin == "GE":
        return f"{''.join(rng.choices(letters, k=2))}-{rng.randint(100, 999)}-{''.join(rng.choices(letters, k=2))}"
    if origin == "TR":
        return f"{rng.randint(10, 81)} {''.join(rng.choices(letters, k=3))} {rng.randint(100, 999)}"
    if origin in ("RU", "BY", "KZ"):
        cyrillic_lookalikes = "ABEKMHOPCTYX"  # Russian plates only use letters that exist in Latin too
        tail = "".join(rng.choices(cyrillic_lookalikes, k=2))
        return f"{rng.choice(cyrillic_lookalikes)}{rng.randint(100, 999)}{tail}{rng.randint(10, 199)}"
    return f"{rng.randint(10, 99)}-{''.join(rng.choices(letters, k=2))}-{rng.randint(100, 999)}"


def _container(rng: random.Random) -> str:
    first10 = rng.choice(("MSCU", "TGHU", "CSQU", "MAEU", "CMAU")) + f"{rng.randint(0, 999999):06d}"
    return f"{first10}{iso6346_check_digit(first10)}"


def demo_routes() -> list[str]:
    """Routes a declaration can use end to end: both ends are offices (AST-HAJ ends in a town)."""
    return [r.code for r in ROUTES.values() if r.origin in ORIGINS and r.destination.startswith("AZ")]


def demo_body(rng: random.Random, index: int, seed: int) -> dict[str, Any]:
    route = ROUTES[rng.choice(demo_routes())]
    origin = rng.choice(ORIGINS.get(route.origin, ("TR",)))
    carrier_name, carrier_tin = rng.choice(CARRIERS)
    items = []
    for no, (hs, desc, usd_kg, (lo, hi)) in enumerate(rng.sample(GOODS, k=rng.randint(1, 3))):
        net = rng.randint(lo, hi) // rng.randint(1, 3)
        gross = round(net * rng.uniform(1.03, 1.15), 1)
        currency = rng.choice(CURRENCIES)
        rate = {"USD": 1.0, "EUR": 1 / 1.08, "AZN": 1.7}[currency]
        value = round(net * usd_kg * rate * rng.uniform(0.8, 1.3), 2)
        items.append(
            {
                "hs_code": hs,
                "description": desc if no == 0 else f"{desc} (lot {no + 1})",
                "gross_mass_kg": gross,
                "net_mass_kg": float(net),
                "value": value,
                "currency": currency,
                "packages": max(1, net // rng.randint(20, 500)),
            }
        )
    body: dict[str, Any] = {
        "lrn": f"DEMO-{seed}-{index:05d}",
        "declarant": {"tin": f"{rng.randint(1000000000, 9999999999)}", "name": f"Demo Trader {index}"},
        "carrier": {"name": carrier_name, "tin": carrier_tin},
        "vehicle_plate": _plate(rng, origin),
        "items": items,
        "office_of_departure": route.origin,
        "office_of_destination": route.destination,
        "itinerary": {"route_code": route.code},
        "seal_count": 1,
        "origin_country": origin,
    }
    if rng.random() < 0.4:
        body["containers"] = [_container(rng)]
    else:
        body["trailers"] = [_plate(rng, origin)]
    transit_offices = [c for c in route.place_codes[1:-1] if c.startswith("AZ")]
    if transit_offices:
        body["offices_of_transit"] = transit_offices[:1]
    return body


async def _issue_permits(db: Db, body: dict[str, Any], tag: str) -> None:
    """Issue the permits the goods need to the demo declarant, as the agencies would."""
    rules = await load_rules(db)
    for item in body["items"]:
        for ptype in required_types(item["hs_code"], rules):
            await db.run(
                """INSERT INTO permits (permit_no, permit_type, holder_tin, hs_prefixes, quantity_kg,
                       valid_from, valid_to)
                   VALUES (%s, %s, %s, %s, %s, current_date - 30, current_date + 335)
                   ON CONFLICT (permit_no) DO NOTHING""",
                (f"{tag}-{ptype}-{item['hs_code']}", ptype, body["declarant"]["tin"], [item["hs_code"][:4]], 100000),
            )


async def release_demo_fleet_async(
    conn: AnyConnection | Db,
    n: int,
    seed: int,
    settings: CustomsSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    between_chunks: Callable[[], None] | None = None,
    templates_wanted: int = TEMPLATES,
) -> list[ReleasedTransit]:
    """Register seals AZS-00001.. and release one monitored transit per seal (reusing active ones);
    ``progress(done, n)`` is called as seals are handled, ``between_chunks()`` between the
    transactions of copied transits."""
    db = as_db(conn)
    cfg = settings or get_customs_settings()
    limits = Limits(max_items=cfg.max_items, max_seals=cfg.max_seals_per_transit)
    out: dict[int, ReleasedTransit] = {}
    async with db.transaction():
        ref = await load_reference(db)
        ids = [f"AZS-{index:05d}" for index in range(1, n + 1)]
        known = {r["seal_id"] for r in await db.all("SELECT seal_id FROM seals WHERE seal_id = ANY(%s)", (ids,))}
        taken = {r["lrn"] for r in await db.all("SELECT lrn FROM declarations WHERE lrn LIKE 'DEMO-%%'")}
    assert all(ref.offices.get(c) in OFFICE_KINDS for c in ("AZRBR", "AZBAK")), "reference data missing: migrate"
    templates: list[tuple[str, str]] = []  # (transit id, origin country) released through the lifecycle
    copies: list[tuple[int, Copy]] = []
    for index in range(1, n + 1):
        if progress is not None:
            progress(index - 1 - len(copies), n)
        seal_id = f"AZS-{index:05d}"
        rng = random.Random(seed * 1_000_003 + index)  # one stream per seal: reruns are reproducible
        if seal_id not in known and len(templates) >= templates_wanted:
            template, origin = templates[index % len(templates)]
            submitted_at, released_at = copy_times(rng)
            lrn = _free_lrn(f"DEMO-{seed}-{index:05d}", taken)
            battery = round(rng.uniform(60, 100), 1)
            plate = _plate(rng, origin)
            copies.append((index, Copy(seal_id, lrn, battery, plate, template, submitted_at, released_at)))
            continue
        async with db.transaction():
            active = await db.one(
                """SELECT t.transit_id FROM transit_seals ts JOIN transits t ON t.transit_id = ts.transit_id
                   WHERE ts.seal_id = %s AND ts.returned_at IS NULL AND t.status = 'active'""",
                (seal_id,),
            )
            if active is not None:
                out[index] = released(await transits.get_transit(db, active["transit_id"]))
                continue
            await db.run(
                "INSERT INTO seals (seal_id, battery_pct) VALUES (%s, %s) ON CONFLICT (seal_id) DO NOTHING",
                (seal_id, round(rng.uniform(60, 100), 1)),
            )
            seal = await db.one("SELECT status, battery_pct FROM seals WHERE seal_id = %s", (seal_id,))
            assert seal is not None
            if seal["status"] != "available" or seal["battery_pct"] < cfg.low_battery_refuse_pct:
                log.warning("demo seal skipped", seal_id=seal_id, status=seal["status"])
                continue
            body = demo_body(rng, index, seed)
            body["lrn"] = _free_lrn(body["lrn"], taken)  # an earlier run left this LRN (its transit closed)
            await _issue_permits(db, body, body["lrn"])
            # Trucks released over the last few hours, so the demo map starts with a spread-out fleet.
            released_at = datetime.now(UTC) - timedelta(minutes=rng.uniform(0, 150))
            lodged = await lifecycle.lodge(
                db, body, ref, limits, now=released_at - timedelta(minutes=rng.uniform(20, 60)), actor="demo"
            )
            if lodged.declaration_id is None or lodged.status != Status.ACCEPTED:
                log.warning("demo declaration not accepted", seal_id=seal_id, errors=lodged.errors)
                continue
            decl = await lifecycle.load_declaration(db, lodged.declaration_id)
            await risk.assess(db, lodged.declaration_id, decl, "accepted", cfg, rng, monitor_all=True)
            view = await transits.release(
                db, lodged.declaration_id, cfg, rng, seal_ids=[seal_id], monitor_all=True, now=released_at, actor="demo"
            )
            out[index] = released(view)
            templates.append((view.transit_id, str(body["origin_country"])))
    done = n - len(copies)
    for start in range(0, len(copies), CHUNK):
        chunk = copies[start : start + CHUNK]
        for (index, _), transit in zip(chunk, await release_copies(db, [c for _, c in chunk]), strict=True):
            out[index] = transit
        if progress is not None:
            progress(done + start + len(chunk), n)
        if between_chunks is not None:
            between_chunks()
    result = [out[index] for index in sorted(out)]
    if progress is not None:
        progress(n, n)
    log.info("demo fleet released", transits=len(result), requested=n, seed=seed, copies=len(copies))
    return result


def _free_lrn(lrn: str, taken: set[str]) -> str:
    """``lrn``, or with a suffix when an earlier run used it; marks the result taken."""
    candidate, attempt = lrn, 0
    while candidate in taken:
        attempt += 1
        candidate = f"{lrn}-{attempt}"
    taken.add(candidate)
    return candidate


def release_demo_fleet(
    conn: psycopg.Connection[Any],
    n: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    templates: int = TEMPLATES,
) -> list[ReleasedTransit]:
    """Synchronous entry point for the demo runner (commits per transit, or per chunk of copies)."""
    return asyncio.run(
        release_demo_fleet_async(
            conn,
            n,
            seed,
            progress=progress,
            between_chunks=lambda: _vacuum_audit_head(conn),
            templates_wanted=templates,
        )
    )


def _vacuum_audit_head(conn: psycopg.Connection[Any]) -> None:
    """Vacuum the audit chain's one-row head: every audited row rewrites it, and thousands of dead
    versions between autovacuum runs made each later write slower (a fleet's start-up slowed
    sixfold). Best effort: a role that does not own the table only gets a notice."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return
    conn.autocommit = True
    try:
        conn.execute("VACUUM audit_chain")
    except psycopg.Error as exc:
        log.debug("audit head not vacuumed", error=str(exc))
    finally:
        conn.autocommit = False
