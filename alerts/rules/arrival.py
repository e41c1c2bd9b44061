"""arrival: the engine's ``arrival`` (first fix in the destination office) — informational.

It closes the alerts the arrival makes moot (``arrival_resolves``: overdue, signal lost, route
deviation, ...) and the service records the arrival in customs. Seal and zone violations stay open.
"""

from __future__ import annotations

from alerts.model import Condition, TransitContext, TransitMemory
from alerts.settings import AlertSettings
from geofence.model import Observation

TYPE = "arrival"


def on_observation(obs: Observation, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    if obs.kind != "arrival" or mem.arrived_at is not None:
        return []
    mem.arrived_at = obs.t
    mem.stop = None
    evidence = {"observation": obs.kind, "office": ctx.office_destination, **obs.evidence}
    out = [Condition("arrival", "raise", ctx.transit_id, obs.seal_id, obs.t, obs.lat, obs.lon, "info", evidence)]
    for kind in s.arrival_resolves:
        out.append(
            Condition(
                kind,
                "clear",
                ctx.transit_id,
                obs.seal_id,
                obs.t,
                obs.lat,
                obs.lon,
                evidence={"arrival_t": obs.t},
                reason="moot: transit arrived",
            )
        )
    if not s.arrival_keep_open:
        out.append(
            Condition(
                "arrival",
                "clear",
                ctx.transit_id,
                obs.seal_id,
                obs.t,
                obs.lat,
                obs.lon,
                "info",
                evidence,
                reason="informational",
            )
        )
    return out
