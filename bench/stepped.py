"""A stepped load for the alert-path benchmarks (bench.alerts, bench.scale).

The released fleet drives its routes with the simulator, one continuous stream whose offered
rate steps up (``--steps 2000,4000,...`` fixes/s, ``--step-seconds`` each). Faults a single fix
decides (seal opened, tampered, GPS jump, battery collapse) are injected on one seal after
another through the whole run. Everything is computed and encoded before the clock starts and
then written in bulk on schedule (bench.mqtt_load) over a few connections (seal i on connection
i mod K, so one seal's messages keep their order), in a separate process.

Per step: what was offered and what was published (the broker may push back), the
publish → receive lag of every fix (its GPS time is its scheduled publish time) and the
publish → alert delay of each fault whose fix was published in that step. A step is
*sustained* when every fix of it was stored, its fixes' lag p99 and its faults' alert p99 stay
under 1 s; the figure a run reports is the highest sustained step below the first that was not.
"""

from __future__ import annotations

import os
import statistics
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from typing import Any

import psycopg

from alerts.settings import AlertSettings
from bench.mqtt_load import TICK_S, BulkPublisher, publish_packet
from sealwatch.config import mqtt_host_port
from sealwatch.wire import Fix, SealState
from simulators.faults import Fault, FaultKind
from simulators.fleet import Message, encode
from simulators.plans import SealPlan
from simulators.seal import VirtualSeal

FLOOR_S = 1.0

# The faults one fix decides, the alert each raises, and how to recognise that fix.
FAULT_ALERTS: dict[FaultKind, str] = {
    FaultKind.OPENED: "seal_opened",
    FaultKind.TAMPER: "seal_tampered",
    FaultKind.GPS_JUMP: "gps_jump",
    FaultKind.LOW_BATTERY: "low_battery",
}
Faulty = tuple[str, str]  # (seal_id, alert type)


def with_faults(plans: list[SealPlan], faults: int, first_s: float, spacing_s: float) -> list[SealPlan]:
    """Give ``faults`` seals spread over the fleet one fault each, ``spacing_s`` apart, kinds in turn."""
    step = max(1, len(plans) // faults)
    kinds = list(FAULT_ALERTS)
    at = {k * step: (kinds[k % len(kinds)], first_s + k * spacing_s) for k in range(faults)}
    return [
        replace(p, faults=(Fault(at[i][0], at_s=at[i][1], duration_s=0),) if i in at else ())
        for i, p in enumerate(plans)
    ]


def shows_fault(seal: VirtualSeal, fix: Fix, jumps_before: int) -> bool:
    kind = seal.plan.faults[0].kind
    if kind is FaultKind.OPENED:
        return fix.seal_state is SealState.OPENED
    if kind is FaultKind.TAMPER:
        return fix.seal_state is SealState.TAMPERED
    if kind is FaultKind.GPS_JUMP:
        return len(seal.jumped) > jumps_before
    return fix.battery_pct < AlertSettings().battery_warn_below


@dataclass(frozen=True, slots=True)
class Step:
    rate: float
    seconds: float


def parse_steps(text: str, seconds: float) -> list[Step]:
    return [Step(float(r), seconds) for r in text.split(",") if r.strip()]


def lead_time(steps: list[Step]) -> float:
    """How far ahead to stamp the stream: the time to compute, sign and encode it first."""
    return 15.0 + sum(s.rate * s.seconds for s in steps) / 4000


def wait_stored(url: str, messages: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM fixes").fetchone()
        if row and int(row[0]) >= messages:
            return
        time.sleep(0.5)


def faulty_plans(
    plans: list[SealPlan], steps: list[Step], first_s: float = 5.0, every_s: float = 1.0
) -> list[SealPlan]:
    """One fault per ``every_s`` from ``first_s`` to the end, each on its own seal."""
    total = sum(s.seconds for s in steps)
    return with_faults(plans, min(len(plans), int((total - first_s - 2) / every_s)), first_s, every_s)


@dataclass
class Stream:
    messages: list[Message] = field(default_factory=list)
    due: list[float] = field(default_factory=list)  # epoch s
    first_faulty: dict[int, Faulty] = field(default_factory=dict)  # message index → the fault it shows first
    per_step: list[int] = field(default_factory=list)  # messages of each step


def build(plans: list[SealPlan], steps: list[Step], start: float) -> Stream:
    """Every seal's signed fixes: in step k one tick per ``len(plans)/rate_k`` s; seal i's fix is due,
    and stamped, ``i/len(plans)`` of the way through its tick. A step ends on its boundary, even in
    the middle of a tick, so each step offers its rate for exactly its seconds."""
    seals = [VirtualSeal.from_plan(p) for p in plans]
    out = Stream()
    shown: set[str] = set()
    at = start
    last_due = [start] * len(seals)
    for step in steps:
        interval = len(plans) / step.rate
        end = at + step.seconds
        while at < end - 1e-9:
            for i, seal in enumerate(seals):
                due = at + (i / len(seals)) * interval  # spread over the tick; the fix is stamped then
                if due >= end - 1e-6:  # stamps are in microseconds: none may round into the next step
                    break  # the rest of this tick belongs to the next step
                jumps_before = len(seal.jumped)
                fix = seal.fix(datetime.fromtimestamp(due, UTC), due - last_due[i])
                last_due[i] = due
                if seal.plan.faults and seal.seal_id not in shown and shows_fault(seal, fix, jumps_before):
                    shown.add(seal.seal_id)
                    out.first_faulty[len(out.messages)] = (seal.seal_id, FAULT_ALERTS[seal.plan.faults[0].kind])
                out.messages.append(encode(seal.seal_id, [fix], seal.plan.key))
                out.due.append(due)
            at += interval
        at = end
        out.per_step.append(len(out.messages) - sum(out.per_step))
    return out


def publisher(mqtt_url: str, plans: list[SealPlan], steps: list[Step], start: float, out: Queue[Any]) -> None:
    """In its own process: compute the stream, then publish it on schedule; reports publish times."""
    connections = int(os.environ.get("BENCH_CONNECTIONS", "4"))
    stream = build(plans, steps, start)
    # Seal i on connection i mod K: one seal's messages keep their order.
    seal_index = {p.seal_id: i for i, p in enumerate(plans)}
    connection, packets, next_id = [], [], [0] * connections
    for topic, payload in stream.messages:
        c = seal_index[topic.split("/")[1]] % connections
        next_id[c] = next_id[c] % 65535 + 1
        connection.append(c)
        packets.append(publish_packet(topic, payload, next_id[c]))
    host, port = mqtt_host_port(mqtt_url)
    clients = [BulkPublisher(host, port, f"bench-seals-{os.getpid()}-{c}") for c in range(connections)]
    faulty = sorted(stream.first_faulty)
    published_at: dict[Faulty, float] = {}
    sent_at: list[tuple[float, int]] = []  # (time, messages sent by then)
    ready_at = time.time()
    n, i = len(packets), 0
    time.sleep(max(0.0, start - time.time()))
    while i < n:
        now = time.time()
        j = min(bisect_right(stream.due, now, lo=i), i + 20_000)
        if j <= i:
            time.sleep(min(TICK_S, max(0.0, stream.due[i] - now)))
            continue
        by_connection: dict[int, list[bytes]] = defaultdict(list)
        for k in range(i, j):
            by_connection[connection[k]].append(packets[k])
        for c, chunk in by_connection.items():
            while clients[c].in_flight() > BulkPublisher.MAX_IN_FLIGHT - len(chunk):
                time.sleep(0.002)  # the broker is behind with its acknowledgements
            clients[c].send(chunk)
        for k in range(bisect_left(faulty, i), bisect_left(faulty, j)):
            published_at[stream.first_faulty[faulty[k]]] = now
        i = j
        sent_at.append((time.time(), i))
    unacknowledged = sum(client.close() for client in clients)
    out.put(
        {
            "unacknowledged": unacknowledged,
            "published_at": published_at,
            "scheduled": {f: stream.due[k] for k, f in stream.first_faulty.items()},
            "per_step": stream.per_step,
            "messages": n,
            "sent_at": sent_at,
            "late_s": ready_at - start,
        }
    )


@dataclass
class StepResult:
    step: Step
    start: float
    published: float  # fixes/s actually sent during the step
    stored: int
    expected: int
    lag_p99: float
    alerts: list[float]  # publish → alert, s, of this step's faults
    missing: int  # faults of this step without an alert

    @property
    def alert_p99(self) -> float:
        return percentile(self.alerts, 0.99) if self.alerts else 0.0

    @property
    def sustained(self) -> bool:
        return (
            self.stored >= self.expected
            and self.lag_p99 < FLOOR_S
            and self.alert_p99 < FLOOR_S
            and not self.missing
            and self.published >= 0.95 * self.step.rate
        )


def analyze(
    url: str,
    steps: list[Step],
    start: float,
    report: dict[str, Any],
    alerted: dict[Faulty, float],
) -> list[StepResult]:
    """Per step figures from the database (fixes) and the alert times (``alerted``: epoch s)."""
    results: list[StepResult] = []
    at = start
    sent = report["sent_at"]
    with psycopg.connect(url) as conn:
        for step in steps:
            lo, hi = datetime.fromtimestamp(at, UTC), datetime.fromtimestamp(at + step.seconds, UTC)
            row = conn.execute(
                """SELECT count(*), coalesce(percentile_cont(0.99) WITHIN GROUP
                          (ORDER BY extract(epoch FROM received_at - t)), 0)
                   FROM fixes WHERE t >= %s AND t < %s""",
                (lo, hi),
            ).fetchone()
            stored, lag = (int(row[0]), float(row[1])) if row else (0, 0.0)
            scheduled = report["scheduled"]
            mine = {f: t for f, t in report["published_at"].items() if at <= scheduled[f] < at + step.seconds}
            delays = [alerted[f] - t for f, t in mine.items() if f in alerted]
            results.append(
                StepResult(
                    step,
                    at,
                    _sent_rate(sent, at, at + step.seconds),
                    stored,
                    report["per_step"][len(results)],
                    lag,
                    delays,
                    len(mine) - len(delays),
                )
            )
            at += step.seconds
    return results


def _sent_rate(sent: list[tuple[float, int]], lo: float, hi: float) -> float:
    def sent_by(t: float) -> int:
        k = bisect_right([s for s, _ in sent], t)
        return sent[k - 1][1] if k else 0

    return (sent_by(hi) - sent_by(lo)) / (hi - lo)


def sustained(results: list[StepResult]) -> float:
    """The highest step rate sustained before the first step that was not."""
    best = 0.0
    for r in results:
        if not r.sustained:
            break
        best = r.step.rate
    return best


def highest_sustained(results: list[StepResult]) -> tuple[float, list[float]]:
    """The highest step rate sustained, and the steps below it that were not (a passing stall)."""
    highest = max((r.step.rate for r in results if r.sustained), default=0.0)
    return highest, [r.step.rate for r in results if not r.sustained and r.step.rate < highest]


def table(results: list[StepResult]) -> str:
    lines = [
        "  offered/s  published/s  stored/expected   lag p99   faults  alert p50 / p99     sustained",
    ]
    for r in results:
        alerts = f"{len(r.alerts):3d}/{len(r.alerts) + r.missing:<3d}"
        delays = (
            f"{statistics.median(r.alerts) * 1000:6.0f} / {r.alert_p99 * 1000:6.0f} ms"
            if r.alerts
            else "      -         "
        )
        lines.append(
            f"  {r.step.rate:9,.0f}  {r.published:11,.0f}  {r.stored:7,d}/{r.expected:<7,d}  {r.lag_p99 * 1000:6.0f} ms"
            f"  {alerts}  {delays}  {'yes' if r.sustained else 'no'}"
        )
    return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def alerts_raised(url: str) -> dict[Faulty, float]:
    """When each (seal, type) alert was first raised (committed), epoch s."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT seal_id, type, min(raised_at) FROM alerts GROUP BY seal_id, type").fetchall()
    return {(str(s), str(t)): r.timestamp() for s, t, r in rows}


def stage_seconds(metrics_dir: str) -> dict[str, float]:
    """Seconds each ingest stage took, summed over the processes that wrote to ``metrics_dir``."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, metrics_dir)  # type: ignore[no-untyped-call]
    out: dict[str, float] = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "sealwatch_ingest_stage_seconds_total":
                out[sample.labels["stage"]] = out.get(sample.labels["stage"], 0.0) + sample.value
    return out


def describe_stages(spent: dict[str, float], seconds: float, ingest_cpu: float) -> str:
    """One line: each stage's time per second of load and its share of the stages' total."""
    total = sum(spent.values()) or 1.0
    order = ["decode", "write", "geofence", "alerts"]
    parts = [f"{k} {spent.get(k, 0.0) / seconds:.2f} s/s ({100 * spent.get(k, 0.0) / total:.0f} %)" for k in order]
    return (
        "  time per stage (wall seconds per second of load; decode on the event loop, the others"
        f" overlap with it): {', '.join(parts)}; ingest processes' CPU {ingest_cpu / seconds:.2f} cores"
    )
