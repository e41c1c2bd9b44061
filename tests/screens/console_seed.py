"""A fleet for the console's browser tests and screenshots: monitored transits along the real routes,
each with a plate, a carrier and a latest fix, written in bulk with SQL (10,000 units in seconds);
open alerts seeded the same way (an alert storm)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from sealwatch.fixes import FixRecord
from sealwatch.geography import ROUTES, route_lonlat
from store.fixes import FixWriter

CARRIERS = [
    ("Caspian Logistics LLC", "1402345678"),
    ("Anadolu Nakliyat A.S.", "8450012345"),
    ("Silk Way Trans", "1700456789"),
    ("Kura Express", "1300567890"),
    ("Georgian Cargo Lines", "2040678901"),
    ("Volga Freight", "7705789012"),
]
CORRIDOR = {"type": "Polygon", "coordinates": [[[44, 38], [51, 38], [51, 42], [44, 42], [44, 38]]]}


@dataclass(frozen=True, slots=True)
class Unit:
    n: int
    transit_id: str
    seal_id: str
    plate: str
    carrier: str
    route_code: str
    lat: float
    lon: float


def bulk(conn: psycopg.Connection[Any]) -> None:
    """Test data written in bulk skips the row triggers (the audit chain's hashing at commit took
    minutes for 10,000 transits); the rows are consistent by construction."""
    conn.execute("SET session_replication_role = replica")


def ids(n: int) -> tuple[str, str, str]:
    return f"TR{n:07d}", f"AZS-{n:07d}", f"{10 + n % 80:02d}-{chr(65 + n % 26)}{chr(65 + n // 26 % 26)}-{n % 1000:03d}"


def along(route_code: str, fraction: float, n: int) -> tuple[float, float]:
    """A point ``fraction`` of the way along the route's line, a little off it (lat, lon)."""
    pts = route_lonlat(ROUTES[route_code])
    seg = min(len(pts) - 2, int(fraction * (len(pts) - 1)))
    f = fraction * (len(pts) - 1) - seg
    (lon1, lat1), (lon2, lat2) = pts[seg], pts[seg + 1]
    jitter = 0.004 * math.sin(n * 12.9898)
    return lat1 + (lat2 - lat1) * f + jitter, lon1 + (lon2 - lon1) * f - jitter


def seed_fleet(url: str, count: int, *, first: int = 1, now: datetime | None = None, fixes: bool = True) -> list[Unit]:
    """``count`` released, monitored transits, one seal each, with a fresh fix (moving, closed seal)
    unless ``fixes`` is false."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    codes = sorted(ROUTES)
    units: list[Unit] = []
    for n in range(first, first + count):
        transit_id, seal_id, plate = ids(n)
        code = codes[n % len(codes)]
        lat, lon = along(code, (n * 0.61803) % 1.0, n)
        units.append(Unit(n, transit_id, seal_id, plate, CARRIERS[n % len(CARRIERS)][0], code, lat, lon))
    released = now - timedelta(hours=2)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        bulk(conn)
        lines = {r["code"]: r["polyline"] for r in conn.execute("SELECT code, polyline FROM routes")}
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO seals (seal_id, battery_pct) VALUES (%s, 90)", [(u.seal_id,) for u in units])
            cur.executemany(
                """INSERT INTO declarations (lrn, mrn, status, declarant_tin, carrier_name, carrier_tin,
                       vehicle_plate, office_departure, office_destination, route_code, itinerary_places, seal_count,
                       origin_country, body, released_at)
                   VALUES (%s, %s, 'released', '1234567890', %s, %s, %s, 'AZRBR', 'AZBAK', %s, '{AZRBR,AZBAK}', 1,
                           'GE', '{}', %s)""",
                [
                    (
                        f"LRN-{u.n}",
                        u.transit_id,
                        u.carrier,
                        CARRIERS[u.n % len(CARRIERS)][1],
                        u.plate,
                        u.route_code,
                        released,
                    )
                    for u in units
                ],
            )
            cur.executemany(
                """INSERT INTO transits (transit_id, declaration_id, route_code, route_line, corridor,
                       corridor_width_m, office_departure, office_destination, channel, monitored, released_at,
                       deadline)
                   SELECT %s, id, %s, %s, %s, 2000, 'AZRBR', 'AZBAK', 'green', true, %s, %s
                   FROM declarations WHERE mrn = %s""",
                [
                    (
                        u.transit_id,
                        u.route_code,
                        json.dumps(lines[u.route_code]),
                        json.dumps(CORRIDOR),
                        released,
                        now + timedelta(hours=20),
                        u.transit_id,
                    )
                    for u in units
                ],
            )
            cur.executemany(
                "INSERT INTO transit_seals (transit_id, seal_id) VALUES (%s, %s)",
                [(u.transit_id, u.seal_id) for u in units],
            )
            cur.executemany(
                "UPDATE seals SET status = 'in_use', current_transit_id = %s WHERE seal_id = %s",
                [(u.transit_id, u.seal_id) for u in units],
            )
            cur.executemany(
                "UPDATE transits SET seal_id = %s WHERE transit_id = %s", [(u.seal_id, u.transit_id) for u in units]
            )
        conn.commit()
        if not fixes:
            return units
        FixWriter(conn).write(
            [
                FixRecord(
                    u.seal_id, 1, now - timedelta(seconds=20), u.lat, u.lon, 62.0, 90.0, 9, 0.9, 88.0, "closed", now
                )
                for u in units
            ],
            [],
        )
        conn.execute("ANALYZE")  # as autovacuum would soon after a bulk load
    return units


def set_fix(
    url: str,
    unit: Unit,
    *,
    seq: int,
    ago_s: float = 10,
    state: str = "closed",
    battery: float = 88.0,
    speed: float | None = 55.0,
    lat: float | None = None,
    lon: float | None = None,
) -> None:
    """A newer fix of one unit (a seal opened, a battery running low, a truck that stopped)."""
    now = datetime.now(UTC)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        FixWriter(conn).write(
            [
                FixRecord(
                    unit.seal_id,
                    seq,
                    now - timedelta(seconds=ago_s),
                    lat if lat is not None else unit.lat,
                    lon if lon is not None else unit.lon,
                    speed,
                    90.0,
                    9,
                    0.9,
                    battery,
                    state,
                    now,
                )
            ],
            [],
        )


def silence(url: str, units: list[Unit], minutes: float) -> None:
    """These units last reported ``minutes`` ago (a newer fix is what the store keeps as latest)."""
    now = datetime.now(UTC)
    with psycopg.connect(url, row_factory=dict_row) as conn:
        FixWriter(conn).write(
            [
                FixRecord(
                    u.seal_id,
                    2,
                    now - timedelta(minutes=minutes),
                    u.lat,
                    u.lon,
                    40.0,
                    90.0,
                    9,
                    0.9,
                    80.0,
                    "closed",
                    now,
                )
                for u in units
            ],
            [],
        )


def raise_alerts(
    url: str,
    units: list[Unit],
    alert_type: str,
    severity: str,
    *,
    minutes_ago: float = 15,
    evidence: dict[str, Any] | None = None,
) -> list[int]:
    """One open alert of the type per unit, straight into the alerts table (a storm in one statement)."""
    with psycopg.connect(url) as conn:
        bulk(conn)
        rows = conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, lat, lon, first_t, last_t, raised_at,
                                  updated_at, evidence)
               SELECT %s, %s, t, s, la, lo, now() - make_interval(secs => %s), now(),
                      now() - make_interval(secs => %s) + make_interval(secs => i * 0.01), now(), %s::jsonb
               FROM unnest(%s::text[], %s::text[], %s::float8[], %s::float8[]) WITH ORDINALITY AS x(t, s, la, lo, i)
               RETURNING id""",
            (
                alert_type,
                severity,
                minutes_ago * 60,
                minutes_ago * 60,
                json.dumps(evidence or {}),
                [u.transit_id for u in units],
                [u.seal_id for u in units],
                [u.lat for u in units],
                [u.lon for u in units],
            ),
        ).fetchall()
        conn.commit()
        conn.execute("ANALYZE alerts")  # as autovacuum would soon: plans then know the storm is there
    return [int(r[0]) for r in rows]
