"""The rules, one module each, and the pure evaluator that runs them over a batch or a tick.

Per transit, the batch's fixes and observations are merged in time order (an observation before
the fix of the same instant: a ``stop_end`` or ``arrival`` must be known when that fix is judged).
Late fixes are dropped against the per-seal last-seen fix time, and observations against the
watermark the seal had before this batch, so an out-of-order fix can never raise a stale alert
here; a backlog is judged separately, in its own time order (``alerts.late``).
After arrival only the seal-integrity rule still runs (opening outside the office matters).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from alerts.model import Condition, TransitContext, TransitMemory
from alerts.rules import (
    arrival,
    gps_jump,
    low_battery,
    overdue,
    restricted_zone,
    route_deviation,
    seal_integrity,
    signal_lost,
    unauthorized_stop,
)
from alerts.settings import AlertSettings
from geofence.model import Observation
from sealwatch.fixes import FixRecord

ObservationRule = Callable[[Observation, TransitContext, TransitMemory, AlertSettings], list[Condition]]
FixRule = Callable[[FixRecord, TransitContext, TransitMemory, AlertSettings], list[Condition]]
TickRule = Callable[[float, TransitContext, TransitMemory, AlertSettings, str], list[Condition]]

# Arrival first: it must be known before the other rules look at the same observation batch.
OBSERVATION_RULES: tuple[ObservationRule, ...] = (
    arrival.on_observation,
    route_deviation.on_observation,
    unauthorized_stop.on_observation,
    restricted_zone.on_observation,
    gps_jump.on_observation,
)
FIX_RULES: tuple[FixRule, ...] = (
    seal_integrity.on_fix,
    low_battery.on_fix,
    unauthorized_stop.on_fix,
    signal_lost.on_fix,
)
AFTER_ARRIVAL_FIX_RULES: tuple[FixRule, ...] = (seal_integrity.on_fix,)
TICK_RULES: tuple[TickRule, ...] = (signal_lost.on_tick, overdue.on_tick)


@dataclass(slots=True)
class BatchStats:
    fixes: int = 0
    observations: int = 0
    unknown: int = 0  # no monitored transit for the seal
    stale: int = 0  # late fixes / observations ignored


def evaluate_batch(
    records: Sequence[FixRecord],
    observations: Sequence[Observation],
    contexts: Mapping[str, TransitContext],
    memories: Mapping[str, TransitMemory],
    settings: AlertSettings,
    stats: BatchStats | None = None,
) -> list[Condition]:
    """Conditions for one batch. ``contexts`` maps seal_id → transit; ``memories`` transit_id → memory
    (mutated in place: the caller persists them)."""
    stats = stats if stats is not None else BatchStats()
    items: dict[str, list[tuple[float, int, int, FixRecord | Observation]]] = defaultdict(list)
    for i, obs in enumerate(observations):
        ctx = contexts.get(obs.seal_id)
        if ctx is None or (obs.transit_id and obs.transit_id != ctx.transit_id):
            stats.unknown += 1
            continue
        items[ctx.transit_id].append((obs.t, 0, i, obs))
    for i, rec in enumerate(records):
        ctx = contexts.get(rec.seal_id)
        if ctx is None:
            stats.unknown += 1
            continue
        items[ctx.transit_id].append((rec.t.timestamp(), 1, i, rec))

    out: list[Condition] = []
    for transit_id, entries in items.items():
        mem = memories[transit_id]
        first = contexts[entries[0][3].seal_id]
        if mem.arrived_at is None and first.arrived_at is not None:
            mem.arrived_at = first.arrived_at  # arrival recorded by an officer, not seen by the engine
        # Each seal's watermark before this batch: observations at or before it are replays.
        watermark = {seal_id: m.last_t for seal_id, m in mem.seals.items()}
        entries.sort(key=lambda e: (e[0], e[1], e[2]))
        for t, _, _, item in entries:
            ctx = contexts[item.seal_id]
            if isinstance(item, Observation):
                mark = watermark.get(item.seal_id)
                if mark is not None and t <= mark:
                    stats.stale += 1
                    continue
                stats.observations += 1
                if mem.arrived_at is None:
                    for obs_rule in OBSERVATION_RULES:
                        out.extend(obs_rule(item, ctx, mem, settings))
                continue
            seal = mem.seal(item.seal_id)
            if seal.last_t is not None and t <= seal.last_t:
                stats.stale += 1
                continue
            stats.fixes += 1
            active = ctx.status == "active" and mem.arrived_at is None
            for fix_rule in FIX_RULES if active else AFTER_ARRIVAL_FIX_RULES:
                out.extend(fix_rule(item, ctx, mem, settings))
            seal.last_t = t
            if mem.last_fix_t is None or t > mem.last_fix_t:
                mem.last_fix_t, mem.last_lat, mem.last_lon = t, item.lat, item.lon
    return out


def evaluate_tick(
    now: float, ctx: TransitContext, mem: TransitMemory, settings: AlertSettings, seal_id: str
) -> list[Condition]:
    out: list[Condition] = []
    for rule in TICK_RULES:
        out.extend(rule(now, ctx, mem, settings, seal_id))
    return out
