"""Scoring a field-truth run: every alert matched to the ground truth that explains it.

An injected violation is caught by an alert of its type on its transit whose ``first_t`` lies
between 5 minutes before its start and an hour after its end. Its delays, in simulated time:
*stamped* = ``first_t`` - start (how close the alert's time is to when it happened) and *found*
= ``detected_at`` - start (when sealwatch knew; for a violation hidden in a coverage gap, after
the backlog arrived). A coverage gap or silence of 10 minutes or more explains a ``signal_lost``
alert; a stop with the seal its violation opened explains an unauthorized stop (critical at once);
a detour that really took a truck into a restricted zone (another truck's) explains that alert.
Every other alert except informational ones (arrival) is a false alarm on a clean transit, or a
wrong-type alert on a transit with a violation.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.fieldtruth.run import Outcome
from bench.fieldtruth.scenario import ALERT_OF, KINDS, Plan, Violation, Zone
from geofence.projection import to_metric

BEFORE_S = 300.0
AFTER_S = 3600.0
SILENCE_S = 600.0


@dataclass(slots=True)
class Score:
    rows: list[tuple[str, int, int, list[float], list[float]]] = field(default_factory=list)
    recall_ok: bool = True
    false_alarms: Counter[str] = field(default_factory=Counter)
    wrong_type: Counter[str] = field(default_factory=Counter)
    clean_hours: float = 0.0
    hours: float = 0.0
    gaps_expected: int = 0
    gaps_caught: int = 0
    late: int = 0
    misses: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    missed: list[tuple[Plan, Violation]] = field(default_factory=list)  # for ``explain``
    unexplained_alerts: list[tuple[Plan, dict[str, Any]]] = field(default_factory=list)

    @property
    def fa_per_1000h(self) -> float:
        return 1000 * sum(self.false_alarms.values()) / self.clean_hours if self.clean_hours else 0.0


def score(out: Outcome) -> Score:
    s = Score()
    by_transit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in out.alerts:
        by_transit[a["transit_id"]].append(a)
    explained: set[int] = set()
    caught: dict[tuple[str, str], list[tuple[Violation, dict[str, Any] | None]]] = defaultdict(list)
    for p in out.plans:
        s.hours += p.hours
        if not p.violations:
            s.clean_hours += p.hours
        mine = by_transit.get(p.transit_id, [])
        for v in p.violations:
            want = ALERT_OF[v.kind]
            hits = [
                a
                for a in mine
                if a["type"] == want and v.start - BEFORE_S <= a["first_t"].timestamp() <= v.end + AFTER_S
            ]
            hit = min(hits, key=lambda a: a["first_t"]) if hits else None
            if hit is not None:
                explained.add(hit["id"])
            else:
                s.misses.append(f"{v.kind} ({v.covered}) on {p.transit_id} at {v.start:.0f}")
                s.missed.append((p, v))
            caught[(v.kind, v.covered)].append((v, hit))
        for g in p.gaps:
            silent = g.end - g.start >= SILENCE_S
            hits = [
                a
                for a in mine
                if a["type"] == "signal_lost"
                and g.start - BEFORE_S <= a["first_t"].timestamp() <= g.end + p.interval_s * 2
            ]
            for a in hits:
                explained.add(a["id"])
            if silent:
                s.gaps_expected += 1
                s.gaps_caught += bool(hits)
        opened = any(v.kind in ("opening", "tamper") for v in p.violations)
        entered = _entries(p, out.zones) if any(a["type"] == "restricted_zone" for a in mine) else []
        for a in mine:
            if a["id"] in explained or a["severity"] == "info" or a["type"] == "arrival":
                continue
            if opened and a["type"] == "unauthorized_stop" and a["evidence"].get("seal_state", "closed") != "closed":
                continue  # a stop with the seal it opened: critical at once, rightly
            if a["type"] == "restricted_zone" and any(
                code == a["evidence"].get("zone_code") and abs(t - a["first_t"].timestamp()) <= BEFORE_S
                for code, t in entered
            ):
                continue  # a detour really took it into a zone (another truck's): rightly raised

            what = f"{a['type']} on {p.transit_id} at {a['first_t']:%H:%M} ({_why(p, a)})"
            s.unexplained.append(what)
            s.unexplained_alerts.append((p, a))
            if p.violations:
                s.wrong_type[a["type"]] += 1
            else:
                s.false_alarms[a["type"]] += 1
    s.late = sum(1 for a in out.alerts if a["late"])
    for kind in KINDS:
        for covered in ("in coverage", "backlog first", "live first"):
            found = caught.get((kind, covered))
            if not found:
                continue
            pairs = [(v, a) for v, a in found if a is not None]
            stamped = [a["first_t"].timestamp() - v.start for v, a in pairs]
            detected = [a["detected_at"].timestamp() - v.start for v, a in pairs]
            s.rows.append((f"{kind} ({covered})", len(found), len(pairs), stamped, detected))
            if len(pairs) < len(found):
                s.recall_ok = False
    return s


def _entries(p: Plan, zones: list[Zone]) -> list[tuple[str, float]]:
    """(zone code, time) where the truck's true track enters one of the scenario's zones."""
    if not zones or not p.t.size:
        return []
    x0, y0, nx, ny, _ = p.road.frame(p.along)
    x, y = x0 + nx * p.offset + p.dx, y0 + ny * p.offset + p.dy
    out = []
    for z in zones:
        zx, zy = to_metric(np.asarray([z.lon]), np.asarray([z.lat]))
        inside = np.hypot(x - zx[0], y - zy[0]) < z.radius_m
        starts = np.flatnonzero(inside & ~np.concatenate([[False], inside[:-1]]))
        out += [(z.code, float(p.t[k])) for k in starts.tolist()]
    return out


def _why(p: Any, a: dict[str, Any]) -> str:
    """What the truck was doing then, by the plan (for a stop alert: the stop it stood in)."""
    ev = a["evidence"]
    t = float(ev.get("started_at", a["first_t"].timestamp()))
    for start, end, why in p.stops:
        if start - 120 <= t <= end:
            return (
                f"{why}, {(end - start) / 60:.0f} min, allowed {ev.get('allowed_s')}, jam {ev.get('jam_s')}, "
                f"began {(t - start) / 60:+.0f} min, duration {ev.get('duration_s')}, "
                f"driven {ev.get('driving_before_s')}"
            )
    return str(ev.get("observation", ""))


def _mm(values: list[float]) -> str:
    if not values:
        return "–"
    return f"{statistics.median(values) / 60:5.1f} / {max(values) / 60:5.1f}"


def report(out: Outcome, s: Score) -> str:
    lines = [
        f"{len(out.plans)} transits, {s.hours:,.0f} transit-hours ({s.clean_hours:,.0f} clean), "
        f"{out.fixes:,} fixes stored from {out.messages:,} MQTT messages; "
        f"{out.sim_hours:.1f} simulated hours in {out.wall_s:.0f} s",
        "",
        f"{'violation (where made)':36} {'injected':>8} {'caught':>6} {'recall':>7}   "
        f"{'stamped min p50 / max':>21}   {'found min p50 / max':>19}",
    ]
    for name, n, hit, stamped, detected in s.rows:
        lines.append(f"{name:36} {n:8d} {hit:6d} {100 * hit / n:6.0f}%   {_mm(stamped):>21}   {_mm(detected):>19}")
    lines += [
        "",
        f"signal lost over coverage gaps of 10 min or more: {s.gaps_caught} of {s.gaps_expected}",
        f"alerts found late (a backlog after a later live fix): {s.late}",
        f"false alarms on clean transits: {sum(s.false_alarms.values())} "
        f"({dict(s.false_alarms) or 'none'}) = {s.fa_per_1000h:.2f} per 1,000 clean transit-hours",
        f"wrong-type alerts on transits with a violation: {sum(s.wrong_type.values())} "
        f"({dict(s.wrong_type) or 'none'})",
        f"floors: recall 100 % for every kind: {'met' if s.recall_ok else 'NOT met'}; "
        f"< 1 false alarm per 1,000 clean transit-hours: {'met' if s.fa_per_1000h < 1 else 'NOT met'}",
    ]
    if s.misses:
        lines.append("missed: " + "; ".join(s.misses[:20]))
    if s.unexplained:
        lines.append("unexplained alerts: " + "; ".join(s.unexplained[:20]))
    return "\n".join(lines)


def explain(out: Outcome, s: Score) -> str:
    """Each miss and unexplained alert with its transit's plan and every alert the transit got,
    times as minutes since release (to read a failure without reopening the database)."""
    by_transit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in out.alerts:
        by_transit[a["transit_id"]].append(a)
    lines: list[str] = []
    items: list[tuple[str, Plan]] = [(f"MISSED {v.kind} ({v.covered})", p) for p, v in s.missed]
    items += [(f"UNEXPLAINED {a['type']} #{a['id']}", p) for p, a in s.unexplained_alerts]
    for head, p in items:
        r = p.released_at

        def m(t: float, r: float = r) -> str:
            return f"{(t - r) / 60:+.1f}m"

        lines += ["", f"{head} on {p.transit_id} / {p.seal_id}, route {p.road.code}, every {p.interval_s:.0f} s, "
                  f"released {r:.0f}, deadline {m(p.deadline)}, last step {m(float(p.t[-1]))}"]  # fmt: skip
        for v in p.violations:
            lines.append(f"  violation {v.kind} ({v.covered}) {m(v.start)} .. {m(v.end)} {v.zone}")
        for g in p.gaps:
            lines.append(f"  gap {g.order} {m(g.start)} .. {m(g.end)} (delay {g.delay_s:.0f} s)")
        for start, end, why in p.stops:
            lines.append(f"  stop {why} {m(start)} .. {m(end)} ({(end - start) / 60:.0f} min)")
        for a in by_transit.get(p.transit_id, []):
            ev = {k: v for k, v in (a["evidence"] or {}).items() if k not in ("geometry", "track")}
            lines.append(
                f"  alert #{a['id']} {a['type']} {a['severity']} {a['status']} first {m(a['first_t'].timestamp())}"
                f" last {m(a['last_t'].timestamp())} detected {m(a['detected_at'].timestamp())}"
                f" late={a['late']} count={a['count']} evidence={ev}"
            )
    return "\n".join(lines)
