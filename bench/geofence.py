"""Geofence benchmark: engine fixes/s through every check, against the per-fix reference and PostGIS.

Run: ``python -m bench.geofence``. Builds ``--transits`` active transits on the real ROUTES (seals
spread along their route with lateral noise, some deviating, some stopping, a few GPS glitches),
``--zones`` zones (the real offices and checkpoints plus random authorized stops and restricted
areas near the routes), and ``--batches`` batches of ``--batch`` fixes mixing many seals with
steadily increasing time. Figures, all on one core:

* engine: time of ``Engine.process`` only, over every batch, every check;
* reference: the per-fix loop of ``tests/geofence/reference.py`` on the first ``--reference-fixes``
  fixes (extrapolated to fixes/s), whose observations are checked equal to the engine's;
* PostGIS: the corridor check alone on one batch (``ST_Covers`` against buffered corridors with a
  GiST index) in a temporary database; load (COPY) and query are timed separately;
* memory: tracemalloc and RSS growth of an engine holding ``--memory-transits`` transits,
  measured in a fresh process.

``--road-step M`` replaces the town-to-town lines with road-like ones: a vertex every M metres,
winding up to 2 km either side of the town line, and a corridor width per segment (3 km on a tenth
of the stretches, as around towns): the geometry an imported or learned route has.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import psycopg
import shapely

from bench.scratch import scratch_database
from geofence import Engine, EngineConfig, TransitSpec, ZoneSpec
from geofence.projection import ring_to_metric, to_lonlat, to_metric
from sealwatch.fixes import FixBatch
from sealwatch.geography import PLACES, ROUTES, PlaceKind, route_lonlat

FloatArray = npt.NDArray[np.float64]
T0 = 1_750_000_000.0
BATCH_SECONDS = 30.0
WIDTHS = np.array([1000.0, 2000.0, 3000.0])


@dataclass
class Fleet:
    """Per-seal simulation parameters (arrays indexed by seal number)."""

    route: npt.NDArray[np.int64]
    start: FloatArray
    speed: FloatArray  # m/s
    dev_t0: FloatArray  # deviation window (NaN: none)
    dev_off: FloatArray
    stop_t0: FloatArray  # stop window (NaN: none)
    stop_len: FloatArray
    has_speed: npt.NDArray[np.bool_]
    lateral: FloatArray  # the seal's own lane offset, metres
    phase: FloatArray


class RouteGeom:
    """Metric route polylines with cumulative lengths, for vectorized along-route positions."""

    def __init__(self, codes: list[str], road_step_m: float | None = None) -> None:
        self.codes = codes
        self.xy = [ring_to_metric(route_lonlat(ROUTES[c])) for c in codes]
        if road_step_m:
            self.xy = [_winding(xy, road_step_m) for xy in self.xy]
        self.cum = [np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))]) for xy in self.xy]
        self.length = np.array([c[-1] for c in self.cum])
        self.lonlat = [list(zip(*(v.tolist() for v in to_lonlat(xy[:, 0], xy[:, 1])), strict=True)) for xy in self.xy]
        # A width per segment where the geometry is road-like: 3 km on every tenth stretch of 10 segments.
        self.widths: list[tuple[float, ...] | None] = [
            tuple(3000.0 if (k // 10) % 10 == 0 else 2000.0 for k in range(len(xy) - 1)) if road_step_m else None
            for xy in self.xy
        ]

    def position(
        self, route: npt.NDArray[np.int64], along: FloatArray, offset: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        x = np.empty(along.shape[0])
        y = np.empty(along.shape[0])
        for r in np.unique(route).tolist():
            m = route == r
            cum, xy = self.cum[r], self.xy[r]
            a = np.clip(along[m], 0.0, cum[-1])
            k = np.clip(np.searchsorted(cum, a, side="right") - 1, 0, len(cum) - 2)
            seg = xy[k + 1] - xy[k]
            seglen = cum[k + 1] - cum[k]
            f = (a - cum[k]) / seglen
            nx, ny = -seg[:, 1] / seglen, seg[:, 0] / seglen
            x[m] = xy[k, 0] + f * seg[:, 0] + nx * offset[m]
            y[m] = xy[k, 1] + f * seg[:, 1] + ny * offset[m]
        return x, y


def _winding(xy: FloatArray, step_m: float) -> FloatArray:
    """The line with a vertex every ``step_m``, pushed sideways along a wave (≤ 2 km, 25–40 km long)."""
    line = shapely.LineString(xy)
    along = np.append(np.arange(0.0, line.length, step_m), line.length)
    pts = shapely.get_coordinates(shapely.line_interpolate_point(line, along))
    tangent = np.gradient(pts, axis=0)
    tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
    lateral = (
        2000.0 * np.sin(2 * np.pi * along / 40_000) * np.clip(np.sin(np.pi * along / line.length), 0.0, 1.0) ** 0.5
    )
    lateral += 600.0 * np.sin(2 * np.pi * along / 7_000)
    lateral *= np.minimum(1.0, np.minimum(along, line.length - along) / 5_000)  # ends stay on their places
    out: FloatArray = pts + lateral[:, None] * np.column_stack([-tangent[:, 1], tangent[:, 0]])
    return out


def build_world(
    n_transits: int, n_zones: int, rng: np.random.Generator, horizon: float = 1200.0, road_step_m: float | None = None
) -> tuple[list[TransitSpec], list[ZoneSpec], Fleet, RouteGeom]:
    """Transits, zones and the fleet's motion; deviations and stops start early enough in
    ``horizon`` seconds to also end within it."""
    geom = RouteGeom(sorted(ROUTES), road_step_m)
    zones: list[ZoneSpec] = []
    for p in PLACES.values():
        if p.kind is PlaceKind.CUSTOMS_OFFICE:
            zones.append(ZoneSpec.circle(p.code, "customs_office", p.lon, p.lat, 1500))
        elif p.kind is PlaceKind.BORDER_CHECKPOINT:
            zones.append(ZoneSpec.circle(p.code, "border_checkpoint", p.lon, p.lat, 1000))
    k = 0
    while len(zones) < n_zones:
        r = int(rng.integers(len(geom.codes)))
        x, y = geom.position(
            np.array([r]), np.array([rng.uniform(0, geom.length[r])]), np.array([rng.uniform(-3000, 3000)])
        )
        lon, lat = to_lonlat(x, y)
        kind = "authorized_stop" if rng.random() < 0.6 else "restricted_area"
        zones.append(ZoneSpec.circle(f"Z{k:03d}", kind, float(lon[0]), float(lat[0]), float(rng.uniform(300, 1500))))  # type: ignore[arg-type]
        k += 1
    zone_codes = {z.code for z in zones}
    route = rng.integers(len(geom.codes), size=n_transits)
    dev = rng.random(n_transits) < 0.05
    stop = rng.random(n_transits) < 0.05
    fleet = Fleet(
        route=route,
        start=rng.uniform(0, 0.8, n_transits) * geom.length[route],
        speed=rng.uniform(12, 25, n_transits),
        dev_t0=np.where(dev, rng.uniform(-600, max(horizon - 1500, 0), n_transits), np.nan),
        dev_off=rng.choice([-1.0, 1.0], n_transits) * rng.uniform(4000, 8000, n_transits),
        stop_t0=np.where(stop, rng.uniform(0, max(horizon - 900, 0), n_transits), np.nan),
        stop_len=rng.uniform(400, 900, n_transits),
        has_speed=rng.random(n_transits) < 0.8,
        lateral=rng.normal(0, 150, n_transits),
        phase=rng.uniform(0, 2 * np.pi, n_transits),
    )
    transits = []
    for i in range(n_transits):
        r = int(route[i])
        spec = ROUTES[geom.codes[r]]
        dest = spec.destination if spec.destination in zone_codes else None
        transits.append(
            TransitSpec(
                f"TR-{i:07d}",
                f"AZS-{i:07d}",
                geom.lonlat[r],
                float(rng.choice(WIDTHS)),
                dest,
                T0 + 8 * 3600,
                segment_widths_m=geom.widths[r],
            )
        )
    return transits, zones, fleet, geom


def make_batches(fleet: Fleet, geom: RouteGeom, n_batches: int, size: int, rng: np.random.Generator) -> list[FixBatch]:
    n_seals = fleet.route.shape[0]
    batches = []
    for b in range(n_batches):
        seal = (
            rng.choice(n_seals, size=min(size, n_seals), replace=False)
            if size <= n_seals
            else rng.integers(n_seals, size=size)
        )
        t = T0 + b * BATCH_SECONDS + np.sort(rng.uniform(0, BATCH_SECONDS, size))
        el = t - T0
        stopped_for = np.clip(el - fleet.stop_t0[seal], 0, fleet.stop_len[seal])
        stopped_for = np.nan_to_num(stopped_for)
        along = fleet.start[seal] + fleet.speed[seal] * (el - stopped_for)
        in_stop = (stopped_for > 0) & (stopped_for < fleet.stop_len[seal])
        # Deviation ramps over five minutes so it is a detour, not a jump; lasts twenty minutes.
        ramp = np.clip(np.minimum(el - fleet.dev_t0[seal], fleet.dev_t0[seal] + 1200 - el) / 300, 0, 1)
        wander = 100 * np.sin(el / 300 + fleet.phase[seal])  # smooth, so short gaps imply no jump
        offset = fleet.lateral[seal] + wander + rng.normal(0, 5, size) + np.nan_to_num(ramp) * fleet.dev_off[seal]
        x, y = geom.position(fleet.route[seal], along, offset)
        glitch = rng.random(size) < 0.001
        x[glitch] += 40_000
        lon, lat = to_lonlat(x, y)
        arrived = along >= geom.length[fleet.route[seal]]
        speed = np.where(in_stop | arrived, 0.0, fleet.speed[seal] * 3.6 + rng.normal(0, 3, size))
        speed[~fleet.has_speed[seal]] = np.nan
        batches.append(
            FixBatch(
                seal_id=np.array([f"AZS-{i:07d}" for i in seal.tolist()], dtype=object),
                seq=np.arange(size, dtype=np.int64) + b * size,
                t=t,
                lat=lat,
                lon=lon,
                speed_kmh=speed,
                battery_pct=np.full(size, 80.0),
                state=np.zeros(size, dtype=np.int8),
            )
        )
    return batches


def slice_batch(b: FixBatch, n: int) -> FixBatch:
    return FixBatch(
        b.seal_id[:n], b.seq[:n], b.t[:n], b.lat[:n], b.lon[:n], b.speed_kmh[:n], b.battery_pct[:n], b.state[:n]
    )


def run_engine(
    transits: list[TransitSpec], zones: list[ZoneSpec], batches: list[FixBatch]
) -> tuple[float, list[float], Engine, int]:
    engine = Engine(EngineConfig())
    engine.set_transits(transits)
    engine.set_zones(zones)
    per_batch = []
    n_obs = 0
    for b in batches:
        t = time.perf_counter()
        n_obs += len(engine.process(b))
        per_batch.append(time.perf_counter() - t)
    return sum(per_batch), per_batch, engine, n_obs


def seal_subset(batches: list[FixBatch], n_fixes: int, rng: np.random.Generator) -> list[FixBatch]:
    """All fixes of a random subset of seals, batch by batch, about ``n_fixes`` in total.

    Whole tracks (not the first fixes of the stream) so the reference also pays for segments,
    runs and stops as the engine does.
    """
    seals = np.unique(np.concatenate([b.seal_id for b in batches]).astype(str))
    share = min(1.0, n_fixes / sum(len(b) for b in batches))
    chosen = set(rng.choice(seals, size=max(1, int(len(seals) * share)), replace=False).tolist())
    out = []
    for b in batches:
        m = np.fromiter((s in chosen for s in b.seal_id.tolist()), dtype=bool, count=len(b))
        out.append(
            FixBatch(b.seal_id[m], b.seq[m], b.t[m], b.lat[m], b.lon[m], b.speed_kmh[m], b.battery_pct[m], b.state[m])
        )
    return out


def run_reference(
    transits: list[TransitSpec], zones: list[ZoneSpec], batches: list[FixBatch]
) -> tuple[float, int, bool]:
    from tests.geofence.reference import ReferenceEngine, assert_same_observations

    ref = ReferenceEngine(EngineConfig())
    ref.set_transits(transits)
    ref.set_zones(zones)
    engine = Engine(EngineConfig())
    engine.set_transits(transits)
    engine.set_zones(zones)
    elapsed = 0.0
    same = True
    for b in batches:
        t = time.perf_counter()
        want = ref.process(b)
        elapsed += time.perf_counter() - t
        try:
            assert_same_observations(engine.process(b), want)
        except AssertionError:
            same = False
    return elapsed, sum(len(b) for b in batches), same


def postgis(
    url: str, engine: Engine, transits: list[TransitSpec], batch: FixBatch, repeats: int
) -> tuple[float, float, int] | str:
    """(load s, best query s, covered count) or the reason PostGIS could not run."""
    try:
        with (
            scratch_database(url, prefix="sw_bench_geofence") as db,
            psycopg.connect(db, autocommit=True) as conn,
        ):
            try:
                conn.execute("CREATE EXTENSION postgis")
            except psycopg.Error as e:
                return str(e).strip().splitlines()[0]
            conn.execute("CREATE TABLE corridors (transit_id text PRIMARY KEY, geom geometry(Polygon, 32638))")
            wkb: dict[int, str] = {}
            with conn.cursor().copy("COPY corridors (transit_id, geom) FROM STDIN") as cp:
                for tr in transits:
                    poly = engine.corridor_polygon(tr.transit_id)
                    key = id(poly)  # buffers are cached per (route, width): encode each once
                    if key not in wkb:
                        wkb[key] = shapely.to_wkb(poly, hex=True, include_srid=False)
                    cp.write_row((tr.transit_id, "SRID=32638;" + wkb[key]))
            conn.execute("CREATE INDEX corridors_geom ON corridors USING gist (geom)")
            conn.execute("ANALYZE corridors")
            transit_of = {tr.seal_id: tr.transit_id for tr in transits}
            x, y = to_metric(batch.lon, batch.lat)
            buf = io.StringIO()
            for sid, xx, yy in zip(batch.seal_id.tolist(), x.tolist(), y.tolist(), strict=True):
                buf.write(f"{transit_of[sid]}\tSRID=32638;POINT({xx!r} {yy!r})\n")
            data = buf.getvalue().encode()
            t = time.perf_counter()
            conn.execute("CREATE TEMP TABLE fixes_batch (transit_id text, geom geometry(Point, 32638))")
            with conn.cursor().copy("COPY fixes_batch (transit_id, geom) FROM STDIN") as cp:
                cp.write(data)
            conn.execute("ANALYZE fixes_batch")
            load = time.perf_counter() - t
            q = (
                "SELECT count(*) FROM fixes_batch b JOIN corridors c"
                " ON c.transit_id = b.transit_id AND ST_Covers(c.geom, b.geom)"
            )
            times = []
            count = 0
            for _ in range(repeats):
                t = time.perf_counter()
                row = conn.execute(q).fetchone()
                times.append(time.perf_counter() - t)
                count = int(row[0]) if row else 0
            return load, min(times), count
    except psycopg.OperationalError as e:
        return f"cannot connect ({e.__class__.__name__})"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_child(n_transits: int, n_zones: int, seed: int) -> tuple[int, int, int, int]:
    """In a fresh process: (tracemalloc current, tracemalloc peak, RSS delta, state array bytes)."""
    from sealwatch.logging import configure_logging

    configure_logging("WARNING")
    rng = np.random.default_rng(seed)
    transits, zones, fleet, geom = build_world(n_transits, n_zones, rng)
    batches = make_batches(fleet, geom, 3, 5000, rng)
    rss0 = _rss_bytes()
    tracemalloc.start()
    engine = Engine()
    engine.set_transits(transits)
    engine.set_zones(zones)
    for b in batches:
        engine.process(b)
    cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return cur, peak, _rss_bytes() - rss0, engine.state_nbytes()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transits", type=int, default=10_000)
    ap.add_argument("--zones", type=int, default=100)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--reference-fixes", type=int, default=2_000)
    ap.add_argument("--memory-transits", type=int, default=100_000, help="0 to skip")
    ap.add_argument(
        "--pg-url", default=os.environ.get("SEALWATCH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    ap.add_argument("--pg-repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--passes", type=int, default=3, help="engine passes over all batches (median reported)")
    ap.add_argument("--road-step", type=float, help="road-like routes with a vertex every this many metres")
    args = ap.parse_args()
    from sealwatch.logging import configure_logging

    configure_logging("WARNING")
    rng = np.random.default_rng(args.seed)
    transits, zones, fleet, geom = build_world(
        args.transits, args.zones, rng, args.batches * BATCH_SECONDS, args.road_step
    )
    batches = make_batches(fleet, geom, args.batches, args.batch, rng)
    n_fixes = sum(len(b) for b in batches)
    shape_note = (
        f"road-like, a vertex every {args.road_step:g} m ({sum(len(x) for x in geom.xy)} vertices), widths per segment"
        if args.road_step
        else "town-to-town lines"
    )
    print(f"geofence bench: {args.transits} transits on {len(ROUTES)} routes ({shape_note}), {len(zones)} zones, "
          f"{args.batches} batches x {args.batch} fixes = {n_fixes} fixes (one core)")  # fmt: skip

    run_engine(transits, zones, batches[:2])  # warm-up: imports, GEOS/PROJ initialisation
    # Whole passes with a fresh engine each; the median pass is the headline (shared, noisy host).
    passes = [run_engine(transits, zones, batches) for _ in range(args.passes)]
    rates = sorted(n_fixes / p[0] for p in passes)
    eng_rate = statistics.median(rates)
    _, per_batch, engine, n_obs = passes[0]
    s = engine.stats
    print(f"engine:    {eng_rate:>12,.0f} fixes/s  (process() only, every check; median of {args.passes} passes, "
          f"all: {', '.join(f'{r:,.0f}' for r in rates)})")  # fmt: skip
    print(f"           per batch of {args.batch}: median {statistics.median(per_batch) * 1e3:.2f} ms, "
          f"max {max(per_batch) * 1e3:.2f} ms; {n_obs} observations, {s.jumps} jumps, {s.stale} stale")  # fmt: skip
    kinds: dict[str, int] = {}
    probe = Engine()
    probe.set_transits(transits)
    probe.set_zones(zones)
    for b in batches:
        for o in probe.process(b):
            kinds[o.kind] = kinds.get(o.kind, 0) + 1
    print("           observations by kind: " + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))

    # Corridor distance alone, on the first batch, for the PostGIS comparison.
    b0 = batches[0]
    slot = engine._slots.lookup(b0.seal_id)
    t = time.perf_counter()
    for _ in range(10):
        x, y = to_metric(b0.lon, b0.lat)
        inside = engine._corridors.distance(slot, x, y) <= engine._corridors.width[slot]
    corr_s = (time.perf_counter() - t) / 10
    print(f"engine corridor check alone (projection + distance): {len(b0) / corr_s:,.0f} fixes/s, "
          f"{int(inside.sum())} of {len(b0)} inside")  # fmt: skip

    ref_s, ref_n, same = run_reference(transits, zones, seal_subset(batches, args.reference_fixes, rng))
    ref_rate = ref_n / ref_s
    verdict = "equal to" if same else "DIFFERENT FROM"
    print(f"reference: {ref_rate:>12,.0f} fixes/s  (per-fix loop over all {ref_n} fixes of a random subset of "
          f"seals in {ref_s:.2f} s, extrapolated; its observations are {verdict} the engine's on them)")  # fmt: skip

    pg = postgis(args.pg_url, engine, transits, b0, args.pg_repeats)
    if isinstance(pg, str):
        print(f"PostGIS: not available ({pg})")
        pg_rate = None
    else:
        load, q, count = pg
        pg_rate = len(b0) / q
        print(f"PostGIS:   {pg_rate:>12,.0f} fixes/s  (corridor check alone: ST_Covers join, best of "
              f"{args.pg_repeats} = {q * 1e3:.1f} ms for {len(b0)} fixes, {count} covered; "
              f"COPY load {load * 1e3:.1f} ms not included)")  # fmt: skip

    print(f"ratio engine/reference: {eng_rate / ref_rate:,.1f}x (floor 20x)")
    if pg_rate is not None:
        print(
            f"ratio engine/PostGIS:   {eng_rate / pg_rate:,.1f}x (engine all checks, PostGIS corridor only; floor >1x)"
        )
    print(f"floor 500,000 fixes/s: {'met' if eng_rate >= 500_000 else 'NOT met'}")

    if args.memory_transits:
        ctx = mp.get_context("spawn")
        with ctx.Pool(1) as pool:
            cur, peak, rss, state = pool.apply(memory_child, (args.memory_transits, args.zones, args.seed))
        mib = 1 << 20
        print(f"memory, engine with {args.memory_transits:,} transits (fresh process, specs excluded): "
              f"tracemalloc {cur / mib:.1f} MiB (peak {peak / mib:.1f} MiB), RSS +{rss / mib:.1f} MiB, "
              f"per-seal state arrays {state / mib:.1f} MiB")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
