"""unauthorized_stop: a ``stop_start`` outside any authorized zone, lasting at least the extra minimum.

The engine reports ``stop_start`` once its own minimum is reached. When
``unauthorized_stop_min_s`` asks for longer (counted from the stop's first slow fix), the stop is
remembered and raised by a later fix of the same seal, or by its ``stop_end`` if that is long
enough; a shorter stop is forgotten.
"""

from __future__ import annotations

from typing import Any

from alerts.model import Condition, PendingStop, TransitContext, TransitMemory
from alerts.settings import AlertSettings
from geofence.model import Observation
from sealwatch.fixes import FixRecord

TYPE = "unauthorized_stop"


def _raise(stop: PendingStop, ctx: TransitContext, t: float, s: AlertSettings, **extra: Any) -> Condition:
    evidence = {**stop.evidence, "started_at": stop.started_at, "duration_s": round(t - stop.started_at), **extra}
    return Condition(
        "unauthorized_stop",
        "raise",
        ctx.transit_id,
        stop.seal_id,
        t,
        stop.lat,
        stop.lon,
        s.unauthorized_stop_severity,
        evidence,
    )


def on_observation(obs: Observation, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    if obs.kind == "stop_start":
        if obs.evidence.get("authorized", True):
            return []
        started_at = float(obs.evidence.get("started_at", obs.t))
        stop = PendingStop(obs.seal_id, started_at, obs.lat, obs.lon, {"observation": obs.kind, **obs.evidence})
        if obs.t - started_at >= s.unauthorized_stop_min_s:
            mem.stop = None
            return [_raise(stop, ctx, obs.t, s)]
        mem.stop = stop
        return []
    if obs.kind == "stop_end" and not obs.evidence.get("authorized", True):
        out: list[Condition] = []
        pending = mem.stop
        if pending is not None and pending.seal_id == obs.seal_id:
            mem.stop = None
            if obs.t - pending.started_at >= s.unauthorized_stop_min_s:
                out.append(_raise(pending, ctx, obs.t, s, ended=True))
        out.append(
            Condition(
                "unauthorized_stop",
                "clear",
                ctx.transit_id,
                obs.seal_id,
                obs.t,
                obs.lat,
                obs.lon,
                s.unauthorized_stop_severity,
                {"observation": obs.kind, **obs.evidence},
                resolve=s.unauthorized_stop_auto_resolve,
                reason="moving again",
            )
        )
        return out
    return []


def on_fix(fix: FixRecord, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    stop = mem.stop
    t = fix.t.timestamp()
    if stop is None or stop.seal_id != fix.seal_id or t - stop.started_at < s.unauthorized_stop_min_s:
        return []
    mem.stop = None
    return [_raise(stop, ctx, t, s)]
