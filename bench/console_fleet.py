"""A large monitored fleet written straight into the tables, and a writer that moves it.

Releasing 100,000 transits through customs would take longer than the measurement; the console
only reads the result (declarations, transits, transit seals, latest fixes), so
:func:`seed_fleet` writes that result with COPY: one released transit per seal on the shipped
routes (``routes`` of the reference data), each seal somewhere along its route. :class:`FleetWriter`
then gives every seal a new fix every ``period_s`` seconds, spread evenly over the period, through
the same :class:`store.fixes.FixWriter` that ingest uses (fixes, then seal_latest).

The seed is written without the audit triggers (``session_replication_role = replica``), which
needs a superuser connection, as the local PostgreSQL of the benchmarks and tests has.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import psycopg
from psycopg.rows import dict_row

from sealwatch.fixes import FixRecord
from store.fixes import FixWriter

CARRIERS = ("Caspian Logistics LLC", "Silk Way Trans", "Anadolu Nakliyat A.S.", "Georgian Transit Co", "Baku Cargo")


@dataclass
class Route:
    code: str
    origin: str
    destination: str
    line: np.ndarray  # (n, 2) lon/lat vertices
    cum: np.ndarray  # cumulative length along the line, degrees (enough to spread seals)

    def at(self, frac: np.ndarray) -> np.ndarray:
        """Points at fractions of the route's length (vectorized)."""
        d = frac * self.cum[-1]
        lon = np.interp(d, self.cum, self.line[:, 0])
        lat = np.interp(d, self.cum, self.line[:, 1])
        return np.column_stack([lon, lat])


@dataclass
class Fleet:
    seal_ids: list[str]
    route_of: np.ndarray  # index into routes per seal
    frac: np.ndarray  # position along the route, 0..1
    step: np.ndarray  # fraction advanced per fix
    routes: list[Route]
    seq: np.ndarray

    def positions(self) -> np.ndarray:
        out = np.empty((len(self.seal_ids), 2))
        for i, route in enumerate(self.routes):
            mask = self.route_of == i
            out[mask] = route.at(self.frac[mask])
        return out


def _routes(conn: psycopg.Connection[Any]) -> list[Route]:
    rows = conn.execute("SELECT code, place_codes, polyline FROM routes WHERE active ORDER BY code").fetchall()
    out = []
    for code, places, polyline in rows:
        line = np.asarray(polyline["coordinates"], dtype=float)
        seg = np.hypot(*np.diff(line, axis=0).T)
        out.append(Route(code, places[0], places[-1], line, np.concatenate([[0.0], np.cumsum(seg)])))
    return out


def seed_fleet(url: str, n: int, *, seed: int = 1, now: datetime | None = None, fix_age_s: float = 30.0) -> Fleet:
    """``n`` seals on released, monitored transits of the shipped routes, each with a latest fix
    up to ``fix_age_s`` old (spread evenly), as a fleet reporting every ``fix_age_s`` would look."""
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    with psycopg.connect(url) as conn:
        routes = _routes(conn)
        route_of = rng.integers(0, len(routes), n)
        frac = rng.uniform(0.02, 0.98, n)
        seal_ids = [f"AZS-{i:07d}" for i in range(1, n + 1)]
        fleet = Fleet(seal_ids, route_of, frac, rng.uniform(2e-5, 6e-5, n), routes, np.ones(n, dtype=np.int64))
        pos = fleet.positions()
        start = int(conn.execute("SELECT coalesce(max(id), 0) FROM declarations").fetchone()[0])  # type: ignore[index]
        released = now - timedelta(hours=2)
        deadline = now + timedelta(hours=20)
        corridor = orjson.dumps(
            {"type": "Polygon", "coordinates": [[[44, 38], [51, 38], [51, 42], [44, 42], [44, 38]]]}
        ).decode()
        with conn.cursor() as cur:
            # Bulk data, not state changes: without the audit triggers (each would take the audit
            # chain's head row, 500,000 times in one transaction) nor the FK checks (consistent by construction).
            cur.execute("SET LOCAL session_replication_role = replica")
            with cur.copy("COPY seals (seal_id, battery_pct, status) FROM STDIN") as copy:
                for sid in seal_ids:
                    copy.write_row((sid, 90, "available"))
            with cur.copy(
                """COPY declarations (id, lrn, mrn, status, declarant_tin, carrier_name, carrier_tin, vehicle_plate,
                       office_departure, office_destination, route_code, itinerary_places, seal_count, origin_country,
                       body, released_at) FROM STDIN"""
            ) as copy:
                for i, sid in enumerate(seal_ids):
                    r = routes[route_of[i]]
                    copy.write_row(
                        (
                            start + i + 1,
                            f"B-{sid}",
                            f"B{start + i + 1:09d}",
                            "released",
                            "1234567890",
                            CARRIERS[i % len(CARRIERS)],
                            f"{1400000000 + i % len(CARRIERS)}",
                            f"{10 + i % 89:02d}-{chr(65 + i % 26)}{chr(65 + i // 26 % 26)}-{i % 1000:03d}",
                            r.origin,
                            r.destination,
                            r.code,
                            [r.origin, r.destination],
                            1,
                            "GE",
                            "{}",
                            released,
                        )
                    )
            cur.execute("SELECT setval('declarations_id_seq', %s)", (start + n,))
            with cur.copy(
                """COPY transits (transit_id, declaration_id, seal_id, route_code, route_line, corridor,
                       corridor_width_m,
                       office_departure, office_destination, channel, monitored, released_at, deadline) FROM STDIN"""
            ) as copy:
                lines = {
                    r.code: orjson.dumps({"type": "LineString", "coordinates": r.line.tolist()}).decode()
                    for r in routes
                }
                for i, sid in enumerate(seal_ids):
                    r = routes[route_of[i]]
                    copy.write_row(
                        (
                            f"BT{start + i + 1:09d}",
                            start + i + 1,
                            sid,
                            r.code,
                            lines[r.code],
                            corridor,
                            1000,
                            r.origin,
                            r.destination,
                            "yellow",
                            True,
                            released,
                            deadline,
                        )
                    )
            with cur.copy("COPY transit_seals (transit_id, seal_id, assigned_at) FROM STDIN") as copy:
                for i, sid in enumerate(seal_ids):
                    copy.write_row((f"BT{start + i + 1:09d}", sid, released))
            cur.execute(
                """UPDATE seals s SET status = 'in_use', current_transit_id = ts.transit_id
                   FROM transit_seals ts WHERE ts.seal_id = s.seal_id AND ts.returned_at IS NULL
                     AND s.status = 'available'"""
            )
            cur.execute("UPDATE transits SET changed_at = %s WHERE released_at = %s", (released, released))
            with cur.copy(
                """COPY seal_latest (seal_id, seq, t, lat, lon, speed_kmh, heading_deg, sats, hdop, battery_pct,
                       seal_state, received_at, updated_at) FROM STDIN"""
            ) as copy:
                for i, sid in enumerate(seal_ids):
                    t = now - timedelta(seconds=fix_age_s * (i % 997) / 997)
                    battery = 12.0 if i % 101 == 0 else 80.0
                    state = "opened" if i % 997 == 5 else "closed"
                    copy.write_row(
                        (sid, 1, t, float(pos[i, 1]), float(pos[i, 0]), 60.0, 90.0, 9, 0.9, battery, state, t, t)
                    )
        conn.commit()
    return fleet


class FleetWriter:
    """Gives every seal of the fleet a new fix every ``period_s``, in slices each second."""

    def __init__(self, url: str, fleet: Fleet, period_s: float = 30.0) -> None:
        self.conn: psycopg.Connection[dict[str, object]] = psycopg.connect(url, row_factory=dict_row)
        self.writer = FixWriter(self.conn)
        self.fleet = fleet
        self.period_s = period_s
        self.next = 0
        self.written = 0

    def close(self) -> None:
        self.conn.close()

    def tick(self, elapsed_s: float) -> int:
        """Write the fixes due over ``elapsed_s`` seconds; returns how many."""
        n = len(self.fleet.seal_ids)
        due = min(n, max(1, round(n * elapsed_s / self.period_s)))
        idx = (np.arange(due) + self.next) % n
        self.next = int((self.next + due) % n)
        f = self.fleet
        f.frac[idx] = np.minimum(0.99, f.frac[idx] + f.step[idx])
        f.seq[idx] += 1
        now = datetime.now(UTC)
        records = []
        for i in idx.tolist():
            route = f.routes[f.route_of[i]]
            lon, lat = route.at(np.array([f.frac[i]]))[0]
            records.append(
                FixRecord(
                    f.seal_ids[i],
                    int(f.seq[i]),
                    now,
                    float(lat),
                    float(lon),
                    60.0,
                    90.0,
                    9,
                    0.9,
                    12.0 if i % 101 == 0 else 80.0,
                    "opened" if i % 997 == 5 else "closed",
                    now,
                )
            )
        self.writer.write(records, [])
        self.written += len(records)
        return len(records)

    def run_for(self, seconds: float, stop: Any = None) -> None:
        """Tick once a second for ``seconds`` (or until ``stop.is_set()``)."""
        end = time.monotonic() + seconds
        last = time.monotonic()
        while time.monotonic() < end and not (stop is not None and stop.is_set()):
            time.sleep(max(0.0, 1.0 - (time.monotonic() - last)))
            now = time.monotonic()
            self.tick(now - last)
            last = now
