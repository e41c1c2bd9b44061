"""Partitioned ingest on one machine: 1, 2 and 4 workers (and a 3-node broker cluster), failover.

Run: ``python -m bench.scale`` (uses DATABASE_URL's server or the local PostgreSQL; starts its
own NATS nodes with config/nats-server.conf). The same released fleet (``--seals``) and the same
stepped rate schedule (bench.stepped: ``--steps`` fixes/s, ``--step-seconds`` each, faults on one
seal after another) run against each set-up in turn:

* ``N workers``: one NATS node, N ``sealwatch ingest`` processes sharing the seals' partitions;
* ``cluster``: three NATS nodes on loopback ports (MQTT stream replicated 3 times), 2 workers.

Each prints its step table (offered, published, stored, publish → receive lag p99, publish →
alert p50/p99) and the highest step it sustained (everything stored, lag and alert p99 < 1 s).
Then the failover run of each multi-worker set-up: ``--failover-rate`` fixes/s with a fault a
second, one worker SIGKILLed (cluster: the node leading the MQTT stream) after 10 s; it prints
how long the survivors took to own every partition, fixes lost and stored twice, and whether every
injected fault raised its alert exactly once (alert count 1). Floor: on two cores, with the
broker, PostgreSQL and the load generator on the same cores, two workers sustain ≥ 1.3× one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import nats
import psycopg

from bench import cpu, stepped
from bench.scratch import scratch_database
from ingest.partitioned import MQTT_STREAM
from launcher.demo import release_fleet
from launcher.servers import NatsServer, nats_cluster
from sealwatch.config import Settings
from sealwatch.logging import configure_logging
from simulators.plans import SealPlan
from store.migrate import migrate


@dataclass
class Setup:
    name: str
    workers: int
    cluster: bool = False


@contextlib.contextmanager
def brokers(cluster: bool) -> Iterator[list[NatsServer]]:
    with tempfile.TemporaryDirectory(prefix="sw-bench-nats-") as tmp:
        nodes = nats_cluster(Path(tmp)) if cluster else [NatsServer(data_dir=Path(tmp) / "n1")]
        try:
            for node in nodes:
                node.start()
            yield nodes
        finally:
            for node in nodes:
                node.stop()


@contextlib.contextmanager
def workers(
    url: str, nodes: list[NatsServer], n: int, seals_node: NatsServer, metrics: str
) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MQTT_URL": seals_node.mqtt_url,
        "SEALWATCH_NATS_URL": ",".join(n.url for n in nodes),
        "SEALWATCH_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": metrics,
    }
    procs = [subprocess.Popen([sys.executable, "-m", "launcher.cli", "ingest"], env=env) for _ in range(n)]
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def owners(url: str) -> dict[int, str]:
    with psycopg.connect(url) as conn:
        return {int(p): str(o) for p, o in conn.execute("SELECT partition, owner FROM ingest_partitions")}


def wait_owned(url: str, n: int, partitions: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = owners(url)
        if len(held) == partitions + 1 and len(set(held.values())) == n:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{n} workers did not share the {partitions + 1} partitions within {timeout:.0f} s")


def stored(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT (seal_id, seq)) FROM fixes").fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def start_publisher(
    mqtt_url: str, plans: list[SealPlan], steps: list[stepped.Step], seals: int
) -> tuple[mp.process.BaseProcess, Queue[Any], float]:
    start = time.time() + stepped.lead_time(steps)
    ctx = mp.get_context("spawn")
    out: Queue[Any] = ctx.Queue()
    proc = ctx.Process(target=stepped.publisher, args=(mqtt_url, plans, steps, start, out))
    proc.start()
    return proc, out, start


def run_steps(
    base: str, setup: Setup, plans: list[SealPlan], steps: list[stepped.Step], partitions: int
) -> tuple[float, float]:
    """Returns the rate sustained before the first step missed, and the highest step sustained
    (above a step missed by a passing stall, a higher one can still be carried)."""
    plans = stepped.faulty_plans(plans, steps)
    metrics = tempfile.mkdtemp(prefix="sw-bench-metrics-")
    with scratch_database(template=base) as url, brokers(setup.cluster) as nodes:
        with workers(url, nodes, setup.workers, nodes[0], metrics) as procs:
            wait_owned(url, setup.workers, partitions)
            proc, out, start = start_publisher(nodes[0].mqtt_url, plans, steps, len(plans))
            time.sleep(max(0.0, start - time.time()))
            before = cpu.snapshot()
            report = out.get(True, sum(s.seconds for s in steps) * 4 + 600)
            after, seconds = cpu.snapshot(), time.time() - start
            proc.join()
            stepped.wait_stored(url, report["messages"])
            labels = {p.pid: "ingest workers" for p in procs} | {proc.pid or 0: "load generator"}
            labels |= {n.process.pid: "nats-server" for n in nodes if n.process}
            stages = stepped.stage_seconds(metrics)
        results = stepped.analyze(url, steps, start, report, stepped.alerts_raised(url))
    shutil.rmtree(metrics, ignore_errors=True)
    best = stepped.sustained(results)
    print(
        f"\n{setup.name}: stepped load, {len(plans)} seals (the stream was ready "
        f"{max(0.0, report['late_s']):.0f} s after its first stamp)"
    )
    print(stepped.table(results))
    spent = cpu.usage(before, after, labels)
    print(f"  {cpu.describe(spent, seconds)}")
    print(stepped.describe_stages(stages, seconds, spent.get("ingest workers", 0.0)))
    highest, missed = stepped.highest_sustained(results)
    print(
        f"  sustained: {best:,.0f} fixes/s with publish → alert p99 < 1 s before the first step missed; "
        f"highest step sustained {highest:,.0f}"
        + (f" (missed below it: {', '.join(f'{m:,.0f}' for m in missed)})" if missed else "")
    )
    return best, highest


def run_failover(base: str, setup: Setup, plans: list[SealPlan], rate: float, seconds: float, partitions: int) -> None:
    steps = [stepped.Step(rate, seconds)]
    plans = stepped.faulty_plans(plans, steps, first_s=3.0, every_s=0.5)
    with (
        scratch_database(template=base) as url,
        brokers(setup.cluster) as nodes,
        workers(url, nodes, setup.workers, nodes[0], tempfile.mkdtemp(prefix="sw-bench-metrics-")) as procs,
    ):
        wait_owned(url, setup.workers, partitions)
        victim_node: NatsServer | None = None
        if setup.cluster:
            info = asyncio.run(_stream_info(nodes[0].url))
            leader = info.cluster.leader if info.cluster else None
            victim_node = next((n for n in nodes[1:] if n.name == leader), nodes[1])
        proc, out, start = start_publisher(nodes[0].mqtt_url, plans, steps, len(plans))
        time.sleep(max(0.0, start + 10 - time.time()))
        killed_at, killed_epoch = time.monotonic(), time.time()
        if victim_node is not None:
            victim_node.kill()
            what = f"broker node {victim_node.name} (leader of the MQTT stream) killed"
            dead = ""
        else:
            victim = procs[0]
            dead = next((o for o in owners(url).values() if f"-{victim.pid}-" in o), "")
            victim.send_signal(signal.SIGKILL)
            what = "one worker SIGKILLed"
        taken = None
        while taken is None and time.monotonic() - killed_at < 60:
            if dead and dead not in owners(url).values() and len(owners(url)) == partitions + 1:
                taken = time.monotonic() - killed_at
            elif not dead:
                break
            time.sleep(0.1)
        report = out.get(True, seconds * 4 + 600)
        proc.join()
        stepped.wait_stored(url, report["messages"])
        time.sleep(3)  # anything judged twice would show now
        total, distinct = stored(url)
        raised = stepped.alerts_raised(url)
        with psycopg.connect(url) as conn:
            counts = {
                (str(s), str(t)): int(n)
                for s, t, n in conn.execute("SELECT seal_id, type, sum(count) FROM alerts GROUP BY 1, 2")
            }
            row = conn.execute("SELECT count(*) FROM ingest_unjudged").fetchone()
            unjudged = int(row[0]) if row else -1
            missing = {
                f: (t - killed_epoch, _seal_story(conn, f[0]))
                for f, t in report["published_at"].items()
                if f not in raised
            }
    injected = report["published_at"]
    once = sum(1 for f in injected if counts.get(f) == 1)
    delays = sorted(raised[f] - t for f, t in injected.items() if f in raised)
    print(f"\n{setup.name}: failover at {rate:,.0f} fixes/s, {what} 10 s into {seconds:.0f} s")
    if dead:
        print(f"  partitions owned again after: {taken:.1f} s" if taken is not None else "  partitions NOT taken over")
    print(
        f"  fixes published {report['messages']:,} (never acknowledged by the broker {report['unacknowledged']:,}),"
        f" stored {distinct:,}: lost {report['messages'] - distinct:,},"
        f" stored twice {total - distinct:,}; left unjudged {unjudged}"
    )
    print(
        f"  faults injected {len(injected)}: alert raised exactly once {once}, missing "
        f"{sum(1 for f in injected if f not in raised)}; publish → alert max {delays[-1] if delays else 0:.1f} s, "
        f"p50 {delays[len(delays) // 2] if delays else 0:.2f} s"
    )
    for (seal, kind), (after_kill, story) in sorted(missing.items()):
        print(f"    missing: {kind} on {seal}, first shown {after_kill:+.1f} s from the kill; {story}")


def _seal_story(conn: psycopg.Connection[Any], seal_id: str) -> str:
    """What storage holds of one seal: to tell a fault never stored from one stored but not judged."""
    fixes = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE seal_state <> 'closed'), min(battery_pct)"
        " FROM fixes WHERE seal_id = %s",
        (seal_id,),
    ).fetchone()
    alerts = conn.execute("SELECT type, count FROM alerts WHERE seal_id = %s", (seal_id,)).fetchall()
    n, not_closed, battery = fixes if fixes else (0, 0, None)
    return f"{n} fixes stored ({not_closed} not closed, lowest battery {battery}), alerts {dict(alerts) or 'none'}"


async def _stream_info(url: str) -> Any:
    nc = await nats.connect(url)
    try:
        return await nc.jetstream().stream_info(MQTT_STREAM)
    finally:
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seals", type=int, default=2000, help="transits released and seals driven")
    parser.add_argument(
        "--steps", default="1000,2000,3000,4000,5000,6000,7000,8000,9000,10000", help="offered fixes/s, step by step"
    )
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run on one NATS node")
    parser.add_argument("--cluster-workers", type=int, default=2, help="workers on the 3-node cluster (0: skip)")
    parser.add_argument("--failover-rate", type=float, default=2000.0)
    parser.add_argument("--failover-seconds", type=float, default=30.0)
    parser.add_argument("--no-failover", action="store_true")
    parser.add_argument("--no-steps", action="store_true", help="failover runs only")
    args = parser.parse_args()
    configure_logging("WARNING")
    if shutil.which("nats-server") is None:
        sys.exit("bench.scale needs nats-server (Debian package nats-server)")
    steps = stepped.parse_steps(args.steps, args.step_seconds)
    setups = [Setup(f"{n} worker{'s' if n > 1 else ''}", n) for n in map(int, args.workers.split(","))]
    if args.cluster_workers:
        setups.append(Setup(f"cluster (3 NATS nodes), {args.cluster_workers} workers", args.cluster_workers, True))
    partitions = Settings().partitions
    print(
        f"bench.scale: {args.seals} seals, steps {args.steps} fixes/s x {args.step_seconds:.0f} s, "
        f"{os.cpu_count()} cores shared by broker, PostgreSQL, workers and load generator"
    )
    with scratch_database(prefix="sw_bench_base") as base:
        migrate(base)
        plans = release_fleet(base, args.seals, seed=11, faults=False)
        sustained = {} if args.no_steps else {s.name: run_steps(base, s, plans, steps, partitions) for s in setups}
        if not args.no_failover:
            for s in setups:
                if s.workers > 1 or s.cluster:
                    run_failover(base, s, plans, args.failover_rate, args.failover_seconds, partitions)
    print("\nsummary: fixes/s with publish → alert p99 < 1 s, before the first step missed / highest step")
    for name, (first, highest) in sustained.items():
        print(f"  {name:<36} {first:>8,.0f} / {highest:>8,.0f}")
    one, two = sustained.get("1 worker"), sustained.get("2 workers")
    if one and two:
        for what, k in (("before the first miss", 0), ("highest step", 1)):
            ratio = two[k] / one[k] if one[k] else 0.0
            print(f"  2 workers / 1 worker, {what}: {ratio:.2f}x  [floor 1.3x: {'met' if ratio >= 1.3 else 'NOT met'}]")


if __name__ == "__main__":
    main()
