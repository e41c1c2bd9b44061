"""History benchmark, per storage backend: a month of transits generated straight into a fresh
database, then the latency of one transit's full track, of a route's daily aggregates for a month,
the CSV export rate of one day of fixes, and the size of the fixes.

    python -m bench.history                         # 30 days, 2000 transits x 10,000 fixes = 20M fixes
    python -m bench.history --scale 0.1             # 200 transits: a quick run (2M fixes)
    python -m bench.history --backend native        # one backend only (default: every reachable one)

Native runs on ``--admin-url`` (DATABASE_URL's server, else 127.0.0.1:5432); TimescaleDB on
``--timescale-admin-url`` (default ``SEALWATCH_TEST_TIMESCALE_PG``, the tests' TimescaleDB lane).
The two are printed side by side; on TimescaleDB the same figures are measured again after the
compression policy's job compressed every chunk older than a week (the background scheduler is
paused in the scratch database, so nothing changes under the measurement).

Fixes are written with binary COPY from numpy: every column of the generated rows has a fixed
width, so a whole batch is one structured array turned into COPY bytes without a Python loop.
Floors: track < 100 ms, month of daily aggregates < 500 ms, CSV export >= 100,000 rows/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.rows import dict_row

from bench.scratch import admin_url, scratch_database
from store import aggregates, exports, history, partitions
from store.migrate import StorageMode, migrate, timescale_support

FLOOR_TRACK_MS = 100.0
FLOOR_AGG_MS = 500.0
FLOOR_EXPORT_RPS = 100_000.0

_PG_EPOCH_US = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
_SEAL_LEN = 9  # "BS-000001": fixed width keeps the COPY rows fixed width
_ROW = np.dtype(
    [
        ("n", ">i2"),
        ("l_seal", ">i4"), ("seal", f"S{_SEAL_LEN}"),
        ("l_seq", ">i4"), ("seq", ">i8"),
        ("l_t", ">i4"), ("t", ">i8"),
        ("l_lat", ">i4"), ("lat", ">f8"),
        ("l_lon", ">i4"), ("lon", ">f8"),
        ("l_speed", ">i4"), ("speed", ">f4"),
        ("l_heading", ">i4"), ("heading", ">f4"),
        ("l_sats", ">i4"), ("sats", ">i2"),
        ("l_hdop", ">i4"), ("hdop", ">f4"),
        ("l_battery", ">i4"), ("battery", ">f4"),
        ("l_state", ">i4"), ("state", "S6"),
        ("l_received", ">i4"), ("received", ">i8"),
    ]
)  # fmt: skip
_LENGTHS = {
    "n": 12, "l_seal": _SEAL_LEN, "l_seq": 8, "l_t": 8, "l_lat": 8, "l_lon": 8, "l_speed": 4, "l_heading": 4,
    "l_sats": 2, "l_hdop": 4, "l_battery": 4, "l_state": 6, "l_received": 8,
}  # fmt: skip
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def seal_name(i: int) -> str:
    return f"BS-{i:06d}"


def make_transits(conn: psycopg.Connection[Any], n: int, days: int, start: datetime, seed: int) -> list[dict[str, Any]]:
    """Declarations, seals, transits and seal assignments for ``n`` arrived transits, set-based in SQL."""
    rng = np.random.default_rng(seed)
    routes = conn.execute(
        "SELECT code, polyline, time_limit_h, place_codes FROM routes WHERE active ORDER BY code"
    ).fetchall()
    carriers = [(f"Bench Carrier {i}", f"BC{i:08d}") for i in range(8)]
    out: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        route = routes[int(rng.integers(len(routes)))]
        released = start + timedelta(seconds=float(rng.uniform(0, (days - 1.5) * 86400)))
        duration = timedelta(hours=float(rng.uniform(0.4, 1.3)) * route["time_limit_h"])
        carrier = carriers[int(rng.integers(len(carriers)))]
        out.append(
            {
                "i": i,
                "transit_id": f"BENCH{i:013d}",
                "seal_id": seal_name(i),
                "route": route,
                "carrier": carrier,
                "released_at": released,
                "arrived_at": released + duration,
                "channel": ("green", "green", "green", "yellow", "red")[int(rng.integers(5))],
            }
        )
    with conn.cursor() as cur:
        with cur.copy(
            """COPY declarations (id, lrn, mrn, status, declarant_tin, carrier_name, carrier_tin, vehicle_plate,
                   office_departure, office_destination, route_code, itinerary_places, seal_count, origin_country,
                   body, submitted_at, accepted_at, released_at, arrived_at) FROM STDIN"""
        ) as copy:
            for t in out:
                r = t["route"]
                copy.write_row(
                    (t["i"], f"B{t['i']}", t["transit_id"], "arrived", "1000000000", t["carrier"][0],
                     t["carrier"][1], f"{t['i']:05d}-AZ", r["place_codes"][0], r["place_codes"][-1], r["code"],
                     r["place_codes"], 1, "TR", "{}", t["released_at"] - timedelta(hours=1),
                     t["released_at"] - timedelta(minutes=30), t["released_at"], t["arrived_at"])
                )  # fmt: skip
        cur.execute("SELECT setval('declarations_id_seq', %s)", (n,))
        with cur.copy("COPY seals (seal_id, battery_pct, status) FROM STDIN") as copy:
            for t in out:
                copy.write_row((t["seal_id"], 90.0, "available"))
        with cur.copy(
            """COPY transits (transit_id, declaration_id, seal_id, route_code, route_line, corridor, corridor_width_m,
                   office_departure, office_destination, channel, monitored, released_at, deadline, status, arrived_at)
               FROM STDIN"""
        ) as copy:
            for t in out:
                r = t["route"]
                coords = r["polyline"]["coordinates"]
                lons, lats = [c[0] for c in coords], [c[1] for c in coords]
                box = [[min(lons), min(lats)], [max(lons), min(lats)], [max(lons), max(lats)], [min(lons), min(lats)]]
                copy.write_row(
                    (t["transit_id"], t["i"], t["seal_id"], r["code"], json.dumps(r["polyline"]),
                     json.dumps({"type": "Polygon", "coordinates": [box]}), 1000.0, r["place_codes"][0],
                     r["place_codes"][-1], t["channel"], True, t["released_at"],
                     t["released_at"] + timedelta(hours=r["time_limit_h"]), "arrived", t["arrived_at"])
                )  # fmt: skip
        with cur.copy("COPY transit_seals (transit_id, seal_id, assigned_at, returned_at) FROM STDIN") as copy:
            for t in out:
                copy.write_row((t["transit_id"], t["seal_id"], t["released_at"], t["arrived_at"] + timedelta(hours=1)))
        # Arrival and a border crossing per transit, for the Time Release Study.
        cur.execute(
            """INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon, zone_code)
               SELECT t.seal_id, t.transit_id, k.kind, t.released_at + k.offs * (0.1 + random() * 0.4),
                      (t.route_line->'coordinates'->0->>1)::float8, (t.route_line->'coordinates'->0->>0)::float8,
                      t.office_departure
               FROM transits t CROSS JOIN (VALUES ('checkpoint_enter', interval '0'),
                                                  ('checkpoint_exit', interval '1 hour')) k(kind, offs)
               UNION ALL
               SELECT t.seal_id, t.transit_id, 'arrival', t.arrived_at, 0, 0, '' FROM transits t"""
        )
    conn.commit()
    return out


def _route_points(coords: list[list[float]], n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    xy = np.asarray(coords, dtype=np.float64)
    seg = np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1]))
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.linspace(0.0, cum[-1], n)
    return np.interp(s, cum, xy[:, 1]), np.interp(s, cum, xy[:, 0])


def fixes_block(t: dict[str, Any], n: int, rng: np.random.Generator) -> npt.NDArray[np.void]:
    """The ``n`` fixes of one transit from release to arrival, as binary COPY rows."""
    rows = np.zeros(n, dtype=_ROW)
    for field, length in _LENGTHS.items():
        rows[field] = length
    lat, lon = _route_points(t["route"]["polyline"]["coordinates"], n)
    start_us = int(t["released_at"].timestamp() * 1_000_000) - _PG_EPOCH_US
    span_us = int((t["arrived_at"] - t["released_at"]).total_seconds() * 1_000_000)
    times = start_us + np.linspace(0, span_us, n).astype(np.int64)
    rows["seal"] = t["seal_id"].encode()
    rows["seq"] = np.arange(1, n + 1)
    rows["t"] = times
    rows["lat"] = lat + rng.normal(0, 0.00005, n)
    rows["lon"] = lon + rng.normal(0, 0.00005, n)
    rows["speed"] = rng.uniform(40, 90, n)
    rows["heading"] = rng.uniform(0, 360, n)
    rows["sats"] = 9
    rows["hdop"] = 0.9
    rows["battery"] = np.linspace(95, 60, n)
    rows["state"] = b"closed"
    rows["received"] = times + 2_000_000
    return rows


def load_fixes(
    conn: psycopg.Connection[Any], mode: StorageMode, transits: list[dict[str, Any]], per_transit: int, seed: int
) -> tuple[int, float]:
    """COPY every transit's fixes; returns (rows, rows/s)."""
    rng = np.random.default_rng(seed)
    days: set[date] = set()
    for t in transits:
        d = t["released_at"].date()
        while d <= t["arrived_at"].date():
            days.add(d)
            d += timedelta(days=1)
    if mode == "native":  # TimescaleDB makes its chunks as rows arrive
        partitions.ensure_partitions(conn, days)
    total = 0
    started = time.perf_counter()
    batch = 50  # transits per COPY: ~0.5M rows, a few tens of MB
    for i in range(0, len(transits), batch):
        blocks = [fixes_block(t, per_transit, rng) for t in transits[i : i + batch]]
        payload = b"".join(b.tobytes() for b in blocks)  # np.concatenate would switch to native byte order
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY fixes (seal_id, seq, t, lat, lon, speed_kmh, heading_deg, sats, hdop, battery_pct, seal_state,"
                " received_at) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.write(_COPY_HEADER + payload + _COPY_TRAILER)
        conn.commit()
        total += per_transit * len(blocks)
        rate = total / (time.perf_counter() - started)
        print(f"  {mode}: fixes loaded: {total:,} ({rate:,.0f} rows/s)", flush=True)
    return total, total / (time.perf_counter() - started)


def fixes_size(conn: psycopg.Connection[Any], mode: StorageMode) -> tuple[float, float]:
    """(total MB, of which index MB) of the fixes table with all its partitions or chunks."""
    if mode == "timescale":
        row = conn.execute("SELECT total_bytes AS total, index_bytes AS idx FROM hypertable_detailed_size('fixes')")
    else:
        row = conn.execute(
            """SELECT sum(pg_total_relation_size(inhrelid)) AS total, sum(pg_indexes_size(inhrelid)) AS idx
               FROM pg_inherits WHERE inhparent = 'fixes'::regclass"""
        )
    r = row.fetchone()
    assert r is not None
    return int(r["total"] or 0) / 1e6, int(r["idx"] or 0) / 1e6


def compress(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Run the compression policy's job now: chunks compressed of all, seconds, and their MB before and after."""
    t0 = time.perf_counter()
    for job in conn.execute(
        "SELECT job_id FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression'"
    ).fetchall():
        conn.execute("CALL run_job(%s)", (job["job_id"],))
    seconds = time.perf_counter() - t0
    conn.execute("VACUUM ANALYZE")
    row = conn.execute(
        """SELECT (SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'fixes') AS total,
                  count(*) AS n, sum(before_compression_total_bytes) AS before,
                  sum(after_compression_total_bytes) AS after
           FROM chunk_compression_stats('fixes') WHERE compression_status = 'Compressed'"""
    ).fetchone()
    assert row is not None
    before, after = int(row["before"] or 0) / 1e6, int(row["after"] or 0) / 1e6
    return {"compressed": int(row["n"]), "chunks": int(row["total"]), "compress_s": seconds,
            "compressed_mb": f"{before:,.0f} -> {after:,.0f} ({before / after if after else 0:.1f}x)"}  # fmt: skip


async def measure(url: str, transits: list[dict[str, Any]], days: int, start: datetime, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed + 1)
    conn = await psycopg.AsyncConnection.connect(url, row_factory=dict_row, autocommit=True)
    try:
        # Track: several transits, each fetched once (cold for that transit's index pages at first).
        track_ms: list[float] = []
        points = 0
        for idx in rng.choice(len(transits), size=min(20, len(transits)), replace=False):
            t0 = time.perf_counter()
            fc = await history.transit_track(conn, transits[int(idx)]["transit_id"])
            track_ms.append((time.perf_counter() - t0) * 1000)
            points = fc["features"][0]["properties"]["points"]
        # A route's daily aggregates over the month.
        route = transits[0]["route"]["code"]
        agg_ms: list[float] = []
        rows: list[dict[str, Any]] = []
        for _ in range(10):
            t0 = time.perf_counter()
            rows = await aggregates.query(
                conn, "day", route=route, start=start, end=start + timedelta(days=days), group_by="route"
            )
            agg_ms.append((time.perf_counter() - t0) * 1000)
        # CSV export of the busiest full day.
        day_start = start + timedelta(days=days // 2)
        spec = exports.ExportSpec(start=day_start, end=day_start + timedelta(days=1))
        query, params = exports.tracks_query(spec)
        await conn.set_autocommit(False)
        t0 = time.perf_counter()
        size = 0
        lines = 0
        async for chunk in exports.stream_csv(conn, query, params):
            size += len(chunk)
            lines += chunk.count(b"\n")
        export_s = time.perf_counter() - t0
        await conn.rollback()
        export_rows = lines - 1
    finally:
        await conn.close()
    return {
        "track_ms_median": statistics.median(track_ms),
        "track_ms_max": max(track_ms),
        "track_points": points,
        "agg_ms_median": statistics.median(agg_ms),
        "agg_ms_max": max(agg_ms),
        "agg_rows": len(rows),
        "agg_route": route,
        "export_rows": export_rows,
        "export_mb": size / 1e6,
        "export_s": export_s,
        "export_rps": export_rows / export_s if export_s > 0 else float("inf"),
    }


def run_backend(mode: StorageMode, admin: str, args: argparse.Namespace, n_transits: int) -> list[dict[str, Any]]:
    """Load, refresh and measure on one backend; one result per state (TimescaleDB: before and after compression)."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=args.days)
    results: list[dict[str, Any]] = []
    with scratch_database(admin, prefix=f"sw_bench_history_{mode}", keep=args.keep) as url:
        migrate(url, mode)
        with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
            if mode == "timescale":  # the benchmark runs the policies itself, when it measures them
                conn.execute(
                    "SELECT alter_job(job_id, scheduled => false) FROM timescaledb_information.jobs"
                    " WHERE job_id >= 1000"  # the policies; not TimescaleDB's own housekeeping
                )
            conn.autocommit = False
            transits = make_transits(conn, n_transits, args.days, start, args.seed)
            total, load_rps = load_fixes(conn, mode, transits, args.fixes_per_transit, args.seed)
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
            t1 = time.perf_counter()
            refreshed = aggregates.refresh(conn, full=True)
            refresh_s = time.perf_counter() - t1
            size_mb, index_mb = fixes_size(conn, mode)
        common = {"fixes": total, "load_rps": load_rps, "refresh_s": refresh_s, "seal_hours": refreshed.seal_hours}
        r = asyncio.run(measure(url, transits, args.days, start, args.seed))
        results.append({**common, **r, "label": mode, "size_mb": size_mb, "index_mb": index_mb})
        if mode == "timescale":
            with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
                done = compress(conn)
                size_mb, index_mb = fixes_size(conn, mode)
            r = asyncio.run(measure(url, transits, args.days, start, args.seed))
            label = f"timescale, {done['compressed']} of {done['chunks']} daily chunks compressed"
            results.append({**common, **r, **done, "label": label, "size_mb": size_mb, "index_mb": index_mb})
    return results


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3, row_factory=dict_row):
            return True
    except psycopg.OperationalError:
        return False


def _backends(args: argparse.Namespace) -> list[tuple[StorageMode, str]]:
    native = args.admin_url or admin_url()
    out: list[tuple[StorageMode, str]] = []
    if args.backend in ("native", "both") and _reachable(native):
        out.append(("native", native))
    ts = args.timescale_admin_url
    if args.backend in ("timescale", "both") and ts and _reachable(ts):
        with psycopg.connect(ts, row_factory=dict_row) as conn:
            support = timescale_support(conn)
        if support.available and support.preloaded:
            out.append(("timescale", ts))
        else:
            print(f"timescale: {ts} has no preloaded timescaledb; skipped")
    elif args.backend in ("timescale", "both"):
        print("timescale: no reachable server (--timescale-admin-url / SEALWATCH_TEST_TIMESCALE_PG); skipped")
    return out


def report(results: list[dict[str, Any]], days: int) -> bool:
    """Print the backends side by side, each figure against its floor; True when every floor holds."""
    mark = {True: "ok", False: "BELOW FLOOR"}
    rows: list[tuple[str, list[str]]] = [
        ("fixes", [f"{r['fixes']:,}" for r in results]),
        ("load, rows/s (COPY)", [f"{r['load_rps']:,.0f}" for r in results]),
        ("aggregates full refresh, s", [f"{r['refresh_s']:.1f}" for r in results]),
        ("fixes size, MB (of it indexes)", [f"{r['size_mb']:,.0f} ({r['index_mb']:,.0f})" for r in results]),
        (f"track median / max, ms [< {FLOOR_TRACK_MS:.0f}]",
         [f"{r['track_ms_median']:.1f} / {r['track_ms_max']:.1f} {mark[r['track_ms_median'] < FLOOR_TRACK_MS]}"
          for r in results]),
        (f"route daily aggregates, {days} days, median / max, ms [< {FLOOR_AGG_MS:.0f}]",
         [f"{r['agg_ms_median']:.1f} / {r['agg_ms_max']:.1f} {mark[r['agg_ms_median'] < FLOOR_AGG_MS]}"
          for r in results]),
        (f"CSV export of one day, rows/s [>= {FLOOR_EXPORT_RPS:,.0f}]",
         [f"{r['export_rps']:,.0f} ({r['export_rows']:,} rows) {mark[r['export_rps'] >= FLOOR_EXPORT_RPS]}"
          for r in results]),
    ]  # fmt: skip
    if any("compress_s" in r for r in results):
        rows.append(("compression job, s", [f"{r['compress_s']:.1f}" if "compress_s" in r else "-" for r in results]))
        rows.append(("compressed chunks, MB before -> after", [r.get("compressed_mb", "-") for r in results]))
    width = max(len(name) for name, _ in rows)
    cols = [max(len(r["label"]), *(len(v[i]) for _, v in rows)) for i, r in enumerate(results)]
    print()
    print(" " * width + "  " + "  ".join(r["label"].ljust(c) for r, c in zip(results, cols, strict=True)))
    for name, values in rows:
        print(name.ljust(width) + "  " + "  ".join(v.ljust(c) for v, c in zip(values, cols, strict=True)))
    return all(
        r["track_ms_median"] < FLOOR_TRACK_MS
        and r["agg_ms_median"] < FLOOR_AGG_MS
        and r["export_rps"] >= FLOOR_EXPORT_RPS
        for r in results
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--transits", type=int, default=2000)
    parser.add_argument("--fixes-per-transit", type=int, default=10_000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies --transits (0.1 for a quick run)")
    parser.add_argument("--backend", choices=("both", "native", "timescale"), default="both")
    parser.add_argument("--admin-url", default=None, help="native: server for the scratch database (DATABASE_URL's)")
    parser.add_argument(
        "--timescale-admin-url",
        default=os.environ.get("SEALWATCH_TEST_TIMESCALE_PG"),
        help="TimescaleDB: server for the scratch database (default SEALWATCH_TEST_TIMESCALE_PG)",
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = parser.parse_args(argv)
    n_transits = max(2, round(args.transits * args.scale))
    print(
        f"history bench: {args.days} days, {n_transits} transits x {args.fixes_per_transit:,} fixes"
        f" = {n_transits * args.fixes_per_transit:,} fixes (scale {args.scale:g})",
        flush=True,
    )
    backends = _backends(args)
    if not backends:
        print("no backend reachable")
        return 1
    results = [r for mode, admin in backends for r in run_backend(mode, admin, args, n_transits)]
    return 0 if report(results, args.days) else 1


if __name__ == "__main__":
    raise SystemExit(main())
