"""restricted_zone: ``zone_enter`` of a zone whose kind is ``restricted_area``; its ``zone_exit`` clears."""

from __future__ import annotations

from alerts.model import Condition, ConditionAction, TransitContext, TransitMemory
from alerts.settings import AlertSettings
from geofence.model import Observation

TYPE = "restricted_zone"
RESTRICTED = "restricted_area"


def on_observation(obs: Observation, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    if obs.kind not in ("zone_enter", "zone_exit") or obs.evidence.get("zone_kind") != RESTRICTED:
        return []
    evidence = {"observation": obs.kind, "zone_code": obs.zone_code, **obs.evidence}
    action: ConditionAction = "raise" if obs.kind == "zone_enter" else "clear"
    return [
        Condition(
            "restricted_zone",
            action,
            ctx.transit_id,
            obs.seal_id,
            obs.t,
            obs.lat,
            obs.lon,
            s.restricted_zone_severity,
            evidence,
            resolve=s.restricted_zone_auto_resolve,
            reason=f"left {obs.zone_code}",
        )
    ]
