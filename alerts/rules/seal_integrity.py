"""seal_opened / seal_tampered: the fix's seal_state leaves ``closed`` (critical).

A seal is closed when released, so a first fix already ``opened`` is a transition too. Opening
inside the destination office after arrival ends a transit normally: no alert, or an ``info`` one
(``opened_at_destination``). Re-closing does not resolve anything: an operator must look.
"""

from __future__ import annotations

import shapely

from alerts.model import AlertType, Condition, TransitContext, TransitMemory
from alerts.settings import AlertSettings
from sealwatch.fixes import FixRecord

TYPES = ("seal_opened", "seal_tampered")


def at_destination(ctx: TransitContext, mem: TransitMemory, t: float, lat: float, lon: float) -> bool:
    """After arrival and inside the destination office's zone."""
    if mem.arrived_at is None or t < mem.arrived_at:
        return False
    if not ctx.destination_ring:
        return True  # no zone geometry known: arrival itself places the truck at the office
    return bool(shapely.contains_xy(shapely.Polygon(ctx.destination_ring), lon, lat))


def on_fix(fix: FixRecord, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    seal = mem.seal(fix.seal_id)
    before, after = seal.state, fix.seal_state
    seal.state = after
    if after == before or after == "closed":
        return []
    kind: AlertType = "seal_tampered" if after == "tampered" else "seal_opened"
    t = fix.t.timestamp()
    severity = s.seal_severity
    evidence = {"from_state": before, "to_state": after, "seq": fix.seq, "battery_pct": fix.battery_pct}
    if at_destination(ctx, mem, t, fix.lat, fix.lon):
        if kind == "seal_opened":
            if s.opened_at_destination == "ignore":
                return []
            severity = "info"
        evidence["at_destination"] = True
    return [Condition(kind, "raise", ctx.transit_id, fix.seal_id, t, fix.lat, fix.lon, severity, evidence)]
