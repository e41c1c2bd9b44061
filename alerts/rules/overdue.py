"""overdue (timer): the transit's deadline (plus grace) passed and it has not arrived."""

from __future__ import annotations

from alerts.model import Condition, TransitContext, TransitMemory, from_epoch
from alerts.settings import AlertSettings

TYPE = "overdue"


def on_tick(now: float, ctx: TransitContext, mem: TransitMemory, s: AlertSettings, seal_id: str) -> list[Condition]:
    if ctx.status != "active" or mem.arrived_at is not None or now <= ctx.deadline + s.overdue_grace_s:
        return []
    evidence = {"deadline": from_epoch(ctx.deadline).isoformat(), "overdue_s": round(now - ctx.deadline)}
    # refresh=False: every tick re-asserts the condition; only the first one is an alert.
    return [
        Condition(
            "overdue",
            "raise",
            ctx.transit_id,
            seal_id,
            now,
            mem.last_lat,
            mem.last_lon,
            s.overdue_severity,
            evidence,
            refresh=False,
        )
    ]
