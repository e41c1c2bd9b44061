"""route_deviation: the engine's ``corridor_exit`` raises it, ``corridor_reentry`` clears it.

The engine already applies hysteresis (several fixes and seconds outside before an exit), so one
exit is one deviation; whether the reentry resolves the alert or leaves it for the operator is
``route_deviation_auto_resolve``. Storms from a truck weaving on the corridor edge are absorbed
by dedup's reopen window (``alerts.dedup``).
"""

from __future__ import annotations

from alerts.model import Condition, TransitContext, TransitMemory
from alerts.settings import AlertSettings
from geofence.model import Observation

TYPE = "route_deviation"


def on_observation(obs: Observation, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    if obs.kind == "corridor_exit":
        return [
            Condition(
                "route_deviation",
                "raise",
                ctx.transit_id,
                obs.seal_id,
                obs.t,
                obs.lat,
                obs.lon,
                s.route_deviation_severity,
                {"observation": obs.kind, **obs.evidence},
            )
        ]
    if obs.kind == "corridor_reentry":
        return [
            Condition(
                "route_deviation",
                "clear",
                ctx.transit_id,
                obs.seal_id,
                obs.t,
                obs.lat,
                obs.lon,
                s.route_deviation_severity,
                {"observation": obs.kind, **obs.evidence},
                resolve=s.route_deviation_auto_resolve,
                reason="back in the corridor",
            )
        ]
    return []
