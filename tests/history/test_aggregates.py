"""Hour/day aggregates per route and carrier: exact against the written fixes, incremental refresh."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from sealwatch.fixes import FixRecord
from store import aggregates
from store.fixes import FixWriter
from tests.history.conftest import SimDay
from tests.tsdb import materialized_seal_hours, run_jobs


def _hav(a: FixRecord, b: FixRecord) -> float:
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b.lon - a.lon) / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(h)))


def _hour(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _all_fixes(url: str, seal_id: str) -> list[FixRecord]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT seal_id, seq, t, lat, lon, speed_kmh, heading_deg, sats, hdop, battery_pct, seal_state, received_at"
            " FROM fixes WHERE seal_id = %s ORDER BY t, seq",
            (seal_id,),
        ).fetchall()
    return [FixRecord(*r) for r in rows]


def _expected(url: str, day: SimDay) -> dict[str, tuple[int, float]]:
    """Per route: fixes and km of the seal-hours that overlap each transit (the views' hour-level rule)."""
    out: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for sim in day.transits:
        fixes = _all_fixes(url, sim.seal_id)
        hours: dict[datetime, list[FixRecord]] = defaultdict(list)
        for f in fixes:
            hours[_hour(f.t)].append(f)
        kept = [f for h in sorted(hours) if hours[h][-1].t >= sim.released_at for f in hours[h]]
        out[sim.route_code or ""][0] += len(kept)
        out[sim.route_code or ""][1] += sum(_hav(a, b) for a, b in itertools.pairwise(kept)) / 1000
    return {k: (int(v[0]), v[1]) for k, v in out.items()}


async def test_daily_aggregates_match_the_fixes_and_refresh_incrementally(
    day: SimDay, client: httpx.AsyncClient
) -> None:
    with psycopg.connect(day.url, row_factory=dict_row, autocommit=True) as conn:
        first = aggregates.refresh(conn)
    assert first.days_rolled_up >= 1 and first.seal_hours > 0

    resp = await client.get("/api/history/aggregates", params={"bucket": "day", "group_by": "route"})
    assert resp.status_code == 200
    rows = resp.json()["rows"]
    got: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for r in rows:
        got[r["route_code"]][0] += r["fixes"]
        got[r["route_code"]][1] += r["distance_km"]
    expected = _expected(day.url, day)
    assert set(got) == set(expected)
    for route, (n, km) in expected.items():
        assert got[route][0] == n
        assert abs(got[route][1] - km) < 1e-6 * max(km, 1)
    assert sum(r["released"] for r in rows) == len(day.transits)
    assert all(r["alerts"] == 0 for r in rows)

    # The hourly rows add up to the daily ones.
    hourly = (await client.get("/api/history/aggregates", params={"bucket": "hour", "group_by": "route"})).json()
    assert sum(r["fixes"] for r in hourly["rows"]) == sum(r["fixes"] for r in rows)

    # A late fix (delivered now for an hour already rolled up), a stop and an alert on one transit.
    sim = day.transits[0]
    late_t = sim.fixes[10].t + timedelta(seconds=30)
    with psycopg.connect(day.url, row_factory=dict_row) as conn:
        f10 = sim.fixes[10]
        late = FixRecord(
            sim.seal_id, 99_999, late_t, f10.lat, f10.lon, 5.0, 0.0, 9, 1.0, 80.0, "closed", datetime.now(UTC)
        )
        FixWriter(conn).write([late], [])
        conn.execute(
            "INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon) VALUES (%s, %s, 'stop_start', %s, 0, 0)",
            (sim.seal_id, sim.transit_id, sim.fixes[100].t),
        )
        conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, first_t, last_t, raised_at, updated_at)
               VALUES ('unauthorized_stop', 'warning', %s, %s, %s, %s, now(), now())""",
            (sim.transit_id, sim.seal_id, sim.fixes[100].t, sim.fixes[100].t),
        )
        conn.commit()
    with psycopg.connect(day.url, row_factory=dict_row, autocommit=True) as conn:
        if first.mode == "timescale":  # the continuous aggregate's policy folds late fixes in
            assert run_jobs(conn, "policy_refresh_continuous_aggregate") == 1
        second = aggregates.refresh(conn, in_flight_margin=timedelta(0))
    if first.mode == "native":
        # Only the seal that got the late fix is rolled up again, for the one day it touched.
        assert second.days_rolled_up == 1 and 0 < second.seal_hours <= 24
    after = (await client.get(
        "/api/history/aggregates", params={"bucket": "day", "group_by": "route", "route": sim.route_code or ""}
    )).json()["rows"]  # fmt: skip
    assert sum(r["fixes"] for r in after) == expected[sim.route_code or ""][0] + 1
    assert sum(r["stops"] for r in after) == 1 and sum(r["alerts"] for r in after) == 1


@pytest.mark.backends("timescale")
async def test_continuous_aggregate_policy_materializes_the_seal_hours(day: SimDay) -> None:
    """The policy's job (as TimescaleDB's scheduler runs it, with a restricted search_path) stores
    the finished seal-hours of the last week, path lengths included."""
    with psycopg.connect(day.url, row_factory=dict_row, autocommit=True) as conn:
        assert materialized_seal_hours(conn) == 0
        assert run_jobs(conn, "policy_refresh_continuous_aggregate") == 1
        stored = materialized_seal_hours(conn)
        hours = conn.execute(
            """SELECT count(DISTINCT (seal_id, date_trunc('hour', t, 'UTC'))) AS n FROM fixes
               WHERE t < date_trunc('hour', now(), 'UTC') - interval '1 hour'"""
        ).fetchone()
        moved = conn.execute("SELECT count(*) AS n FROM history_seal_hourly WHERE distance_m > 1000").fetchone()
    assert hours is not None and moved is not None
    assert stored >= hours["n"] > 0 and moved["n"] > 0


@pytest.mark.backends("native")  # on TimescaleDB history_seal_hourly *is* history_track_m's aggregate
async def test_track_aggregate_equals_the_native_rollup(day: SimDay) -> None:
    """history_track_m (what the TimescaleDB continuous aggregate uses) gives the native distances."""
    with psycopg.connect(day.url, row_factory=dict_row, autocommit=True) as conn:
        aggregates.refresh(conn)
        rows = conn.execute(
            """SELECT h.distance_m AS native, a.d AS agg FROM history_seal_hourly h JOIN (
                   SELECT seal_id, date_trunc('hour', t, 'UTC') AS bucket, history_track_m(t, lat, lon) AS d
                   FROM fixes GROUP BY 1, 2) a USING (seal_id, bucket)"""
        ).fetchall()
    assert len(rows) > 10 and any(r["native"] > 1000 for r in rows)
    for r in rows:
        assert abs(r["native"] - r["agg"]) < 1e-6 * max(r["native"], 1.0)
