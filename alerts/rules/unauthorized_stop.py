"""unauthorized_stop: a stop that lasts longer than it may, judged the way trucks really stop.

The engine reports ``stop_start`` once a seal has been slow for its own minimum and ``stop_end`` when
it moves again. How long the stop may last depends on where and why the truck stands:

* in a customs office or border checkpoint zone, or a stop area without a limit (a border-queue
  area, where trucks wait for hours): as long as it takes;
* in a stop area with a limit (a fuel station): that limit;
* anywhere else: the route's tolerated stop (``stop_tolerance_s``, else ``unauthorized_stop_min_s``),
  at least the AETR break (45 min) when the driver has driven 4.5 h since his last one (or nearly:
  drivers take the break a little before it is due, ``stop_aetr_early_s``);
* while several seals stand on the same stretch of road at once (a jam, see ``alerts.stops``) the
  stop is held back: jam time does not count (nor the few minutes before it was seen and after it
  cleared ahead, ``stop_jam_window_s`` each), up to ``stop_jam_hold_max_s`` of it, so a stop that
  outlasts its jam, or a jam that lasts for ever, still alerts.

The stop is judged again on every slow fix of the stopped seal (not at the moving fix that ends it:
the truck left at some point after its last slow fix). Outlasting its allowance
raises a warning that becomes critical once the stop outlasts it by
``unauthorized_stop_critical_after_s``; a stop with the seal opened or tampered (outside an office
or checkpoint) is critical at once, whatever its allowance. Durations count from the stop's first
slow fix; the AETR clock counts fixes faster than the engine's stop speed, and a silence only when
the distance covered in it shows driving (whatever the speed of the fix that ends it).
"""

from __future__ import annotations

import math
from typing import Any

from alerts.model import AlertType, Condition, PendingStop, Severity, TransitContext, TransitMemory
from alerts.settings import AlertSettings
from alerts.stops import OFFICE_KINDS
from geofence.model import Observation
from sealwatch.fixes import FixRecord

TYPE: AlertType = "unauthorized_stop"
MOVING_KMH = 3.0  # the engine's default stop speed: slower is standing
_RANK = {"": 0, "info": 1, "warning": 2, "critical": 3}


def _start(obs: Observation, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> PendingStop:
    started_at = float(obs.evidence.get("started_at", obs.t))
    stop = PendingStop(obs.seal_id, started_at, obs.lat, obs.lon, {"observation": obs.kind, **obs.evidence})
    area = ctx.stops.area_at(obs.lat, obs.lon) if ctx.stops is not None else None
    if area is not None:
        stop.area = area.code
        stop.allowed_s = None if area.office else area.max_stop_s
        stop.evidence |= {"area": area.code, "area_kind": area.kind, "area_purpose": area.purpose}
    elif ctx.stops is None and obs.evidence.get("authorized", False):
        stop.allowed_s = None  # no stop areas known here: the engine's own zone check decides
    else:
        tolerance = ctx.stop_tolerance_s if ctx.stop_tolerance_s is not None else s.unauthorized_stop_min_s
        seal = mem.seal(obs.seal_id)
        stop.aetr_break = seal.drive_s >= s.stop_aetr_driving_s - s.stop_aetr_early_s
        stop.allowed_s = max(tolerance, s.stop_aetr_break_s) if stop.aetr_break else tolerance
        stop.evidence["driving_before_s"] = round(seal.drive_s)
    stop.evidence["allowed_s"] = stop.allowed_s
    return stop


def _judge(stop: PendingStop, ctx: TransitContext, mem: TransitMemory, t: float, s: AlertSettings) -> list[Condition]:
    """Raise, or raise higher, when the stop outlasts its allowance or the seal is open."""
    if stop.last_t is not None and t <= stop.last_t:
        return []
    jam = ctx.stops.jam_at(stop.seal_id, stop.lat, stop.lon, t) if ctx.stops is not None else 0
    since = stop.started_at if stop.last_t is None else stop.last_t
    if jam and stop.jam:
        stop.jam_s += t - since
    elif jam:
        stop.jam_s += min(t - since, s.stop_jam_window_s)  # the jam was there before we looked
    elif stop.jam_t is not None and t - stop.jam_t <= s.stop_jam_window_s:
        stop.jam_s += t - since  # a queue dissolves from its head: the tail moves minutes later
    if jam:
        stop.jam_t = t
    stop.jam, stop.last_t = jam, t
    duration = t - stop.started_at
    unexplained = duration - min(stop.jam_s, s.stop_jam_hold_max_s)
    opened = mem.seal(stop.seal_id).state != "closed"
    severity: Severity | None = None
    if opened and stop.evidence.get("area_kind") not in OFFICE_KINDS:  # officers open seals in offices
        severity = "critical"
    elif stop.allowed_s is not None and not (jam and stop.jam_s < s.stop_jam_hold_max_s):
        over = unexplained - stop.allowed_s
        if over > s.unauthorized_stop_critical_after_s:
            severity = "critical"
        elif over > 0:
            severity = s.unauthorized_stop_severity
    if severity is None or _RANK[severity] <= _RANK[stop.severity]:
        return []
    stop.severity = severity
    return [_raise(stop, ctx, t, severity, seal_state=mem.seal(stop.seal_id).state, unexplained_s=round(unexplained))]


def _raise(stop: PendingStop, ctx: TransitContext, t: float, severity: Severity, **extra: Any) -> Condition:
    evidence = {
        **stop.evidence,
        "started_at": stop.started_at,
        "duration_s": round(t - stop.started_at),
        "jam_s": round(stop.jam_s),
        "aetr_break": stop.aetr_break,
        **extra,
    }
    return Condition(TYPE, "raise", ctx.transit_id, stop.seal_id, t, stop.lat, stop.lon, severity, evidence)


def on_observation(obs: Observation, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    if obs.kind == "stop_start":
        mem.stop = _start(obs, ctx, mem, s)
        return _judge(mem.stop, ctx, mem, obs.t, s)
    if obs.kind != "stop_end":
        return []
    pending = mem.stop
    out: list[Condition] = []
    seen_until = obs.t
    if pending is not None and pending.seal_id == obs.seal_id:
        # Not judged again here: the truck left somewhere between its last slow fix (judged
        # already) and this moving one. With sparse reporting that is minutes (a 44-minute break
        # must not count as 46); after a silence the seal's backlog, if it kept one, tells when
        # (judged late, in time order), and the silence itself is signal_lost.
        mem.stop = None
        if pending.last_t is not None and obs.t - pending.last_t > s.stop_aetr_max_gap_s:
            seen_until = pending.last_t  # a silence since: it may have been driving, not resting
    if seen_until - float(obs.evidence.get("started_at", obs.t)) >= s.stop_aetr_break_s:
        mem.seal(obs.seal_id).drive_s = 0.0  # an AETR break taken, wherever it was
    out.append(
        Condition(
            TYPE,
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


def on_fix(fix: FixRecord, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    t = fix.t.timestamp()
    _drive(fix, t, mem, s)
    stop = mem.stop
    if stop is None or stop.seal_id != fix.seal_id:
        return []
    return _judge(stop, ctx, mem, t, s)


def _drive(fix: FixRecord, t: float, mem: TransitMemory, s: AlertSettings) -> None:
    """The AETR clock: time between consecutive fixes counts as driving when the later one moves."""
    seal = mem.seal(fix.seal_id)
    if seal.drive_t is not None and t > seal.drive_t:
        gap = t - seal.drive_t
        moving = fix.speed_kmh is None or fix.speed_kmh >= MOVING_KMH
        if moving and gap <= s.stop_aetr_max_gap_s:
            seal.drive_s += gap
        elif gap > s.stop_aetr_max_gap_s and seal.drive_lat is not None and seal.drive_lon is not None:
            # A silence: it was driving if it covered the distance only driving covers, even when
            # the fix that ends it finds the truck pulled over.
            km = _km(seal.drive_lat, seal.drive_lon, fix.lat, fix.lon)
            if km / (gap / 3600) >= s.stop_aetr_silent_driving_kmh:
                seal.drive_s += gap
    if seal.drive_t is None or t > seal.drive_t:
        seal.drive_lat, seal.drive_lon = fix.lat, fix.lon
        seal.drive_t = t


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))
