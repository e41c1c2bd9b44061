"""signal_lost (timer): no fix from an active transit for longer than ``signal_lost_after_s``.

A fix counts as "signal back" only when it is fresh (received within the threshold of its own
time): a seal flushing an old buffer is not reporting *now*, so it must not resolve the alert.
"""

from __future__ import annotations

from alerts.model import Condition, TransitContext, TransitMemory, from_epoch
from alerts.settings import AlertSettings
from sealwatch.fixes import FixRecord

TYPE = "signal_lost"


def on_tick(now: float, ctx: TransitContext, mem: TransitMemory, s: AlertSettings, seal_id: str) -> list[Condition]:
    if ctx.status != "active" or mem.arrived_at is not None:
        return []
    # A transit that never reported is measured from its release.
    last = mem.last_fix_t if mem.last_fix_t is not None else ctx.released_at
    silent = now - last
    if silent <= s.signal_lost_after_s:
        return []
    evidence = {
        "last_fix_t": from_epoch(last).isoformat(),
        "silent_s": round(silent),
        "ever_reported": mem.last_fix_t is not None,
    }
    return [
        Condition(
            "signal_lost",
            "raise",
            ctx.transit_id,
            seal_id,
            now,
            mem.last_lat,
            mem.last_lon,
            s.signal_lost_severity,
            evidence,
            refresh=False,
        )
    ]


def on_fix(fix: FixRecord, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    t = fix.t.timestamp()
    if fix.received_at.timestamp() - t > s.signal_lost_after_s:
        return []
    return [
        Condition(
            "signal_lost",
            "clear",
            ctx.transit_id,
            fix.seal_id,
            t,
            fix.lat,
            fix.lon,
            s.signal_lost_severity,
            {"fix_t": fix.t.isoformat()},
            resolve=s.signal_lost_auto_resolve,
            reason="fixes arrive again",
        )
    ]
