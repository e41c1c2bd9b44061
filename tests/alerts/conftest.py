"""Fixtures for the alert tests: monitored transits inserted into a migrated database, and fix/observation makers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from alerts.service import AlertService
from alerts.settings import AlertSettings
from geofence.model import Observation
from sealwatch.fixes import FixRecord

# Fix times sit an hour in the past so nothing looks like a future fix; tests pass explicit times.
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BAKU = (40.3777, 49.892)  # AZBAK, the destination office (zone centre)
ON_ROUTE = (40.6183, 47.15)  # Yevlakh, on RBR-BAK


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fix(
    seal_id: str,
    seconds: float,
    *,
    seq: int | None = None,
    lat: float = ON_ROUTE[0],
    lon: float = ON_ROUTE[1],
    battery: float = 90.0,
    state: str = "closed",
    speed: float | None = 60.0,
    received_delay_s: float = 1.0,
) -> FixRecord:
    t = at(seconds)
    return FixRecord(
        seal_id,
        seq if seq is not None else int(seconds),
        t,
        lat,
        lon,
        speed,
        90.0,
        9,
        0.9,
        battery,
        state,
        t + timedelta(seconds=received_delay_s),
    )


def obs(
    seal_id: str,
    transit_id: str,
    kind: Any,
    seconds: float,
    *,
    lat: float = ON_ROUTE[0],
    lon: float = ON_ROUTE[1],
    zone_code: str = "",
    **evidence: Any,
) -> Observation:
    return Observation(seal_id, transit_id, kind, at(seconds).timestamp(), lat, lon, zone_code, dict(evidence))


@dataclass(frozen=True)
class Transit:
    transit_id: str
    seal_id: str
    carrier: str
    route_code: str


def insert_transit(
    url: str,
    n: int,
    *,
    route_code: str = "RBR-BAK",
    released_at: datetime | None = None,
    deadline: datetime | None = None,
    carrier: tuple[str, str] = ("Caspian Logistics LLC", "1402345678"),
    destination: str = "AZBAK",
) -> Transit:
    """A released, monitored transit with one seal, written straight into the customs tables."""
    transit_id, seal_id = f"TR{n:06d}", f"AZS-{n:06d}"
    released_at = released_at or T0 - timedelta(hours=1)
    deadline = deadline or T0 + timedelta(hours=12)
    with psycopg.connect(url) as conn:
        line = conn.execute("SELECT polyline FROM routes WHERE code = %s", (route_code,)).fetchone()
        assert line is not None
        conn.execute("INSERT INTO seals (seal_id, battery_pct) VALUES (%s, 95)", (seal_id,))
        decl = conn.execute(
            """INSERT INTO declarations (lrn, mrn, status, declarant_tin, carrier_name, carrier_tin, vehicle_plate,
                   office_departure, office_destination, route_code, itinerary_places, seal_count, origin_country,
                   body, released_at)
               VALUES (%s, %s, 'released', '1234567890', %s, %s, '10-AA-100', 'AZRBR', %s, %s, '{AZRBR,AZBAK}', 1,
                       'GE', '{}', %s) RETURNING id""",
            (f"LRN-{n}", transit_id, carrier[0], carrier[1], destination, route_code, released_at),
        ).fetchone()
        assert decl is not None
        corridor = {"type": "Polygon", "coordinates": [[[45, 40], [50, 40], [50, 42], [45, 42], [45, 40]]]}
        conn.execute(
            """INSERT INTO transits (transit_id, declaration_id, route_code, route_line, corridor, corridor_width_m,
                   office_departure, office_destination, channel, monitored, released_at, deadline)
               VALUES (%s, %s, %s, %s, %s, 1000, 'AZRBR', %s, 'yellow', true, %s, %s)""",
            (
                transit_id,
                decl[0],
                route_code,
                json.dumps(line[0]),
                json.dumps(corridor),
                destination,
                released_at,
                deadline,
            ),
        )
        conn.execute("INSERT INTO transit_seals (transit_id, seal_id) VALUES (%s, %s)", (transit_id, seal_id))
        conn.execute(
            "UPDATE seals SET status = 'in_use', current_transit_id = %s WHERE seal_id = %s", (transit_id, seal_id)
        )
        conn.execute("UPDATE transits SET seal_id = %s WHERE transit_id = %s", (seal_id, transit_id))
    return Transit(transit_id, seal_id, carrier[0], route_code)


def rows(url: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(query, params).fetchall()


class Clock:
    """A settable wall clock for the service (raised_at, escalation)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC))


@pytest.fixture
async def service(migrated_db: str, clock: Clock) -> AsyncIterator[AlertService]:
    async with AlertService(migrated_db, AlertSettings(), None, clock=clock) as svc:
        yield svc
