"""gps_jump: the engine's ``jump`` (implausible implied speed) — spoofing, jamming or a bad receiver."""

from __future__ import annotations

from alerts.model import Condition, TransitContext, TransitMemory
from alerts.settings import AlertSettings
from geofence.model import Observation

TYPE = "gps_jump"


def on_observation(obs: Observation, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    if obs.kind != "jump":
        return []
    evidence = {"observation": obs.kind, **obs.evidence}
    return [
        Condition(
            "gps_jump", "raise", ctx.transit_id, obs.seal_id, obs.t, obs.lat, obs.lon, s.gps_jump_severity, evidence
        )
    ]
