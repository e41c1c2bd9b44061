"""low_battery with hysteresis, so a battery hovering around a threshold raises once.

Per seal: ok → warning below ``battery_warn_below``, back to ok only above ``battery_warn_clear_above``;
critical below ``battery_critical_below``, back to warning only above ``battery_critical_clear_above``.
The transit's level is its worst seal's; a change of that level raises, re-grades or clears.
"""

from __future__ import annotations

from alerts.model import BatteryLevel, Condition, TransitContext, TransitMemory
from alerts.settings import AlertSettings
from sealwatch.fixes import FixRecord

TYPE = "low_battery"
_RANK: dict[BatteryLevel, int] = {"ok": 0, "warning": 1, "critical": 2}


def next_level(prev: BatteryLevel, pct: float, s: AlertSettings) -> BatteryLevel:
    """The battery level after a reading, given the level before it (the hysteresis state)."""
    if pct < s.battery_critical_below:
        return "critical"
    if prev == "critical" and pct <= s.battery_critical_clear_above:
        return "critical"
    if pct < s.battery_warn_below:
        return "warning"
    if prev != "ok" and pct <= s.battery_warn_clear_above:
        return "warning"
    return "ok"


def transit_level(mem: TransitMemory) -> BatteryLevel:
    levels = [m.battery for m in mem.seals.values()]
    return max(levels, key=_RANK.__getitem__, default="ok")


def on_fix(fix: FixRecord, ctx: TransitContext, mem: TransitMemory, s: AlertSettings) -> list[Condition]:
    before = transit_level(mem)
    seal = mem.seal(fix.seal_id)
    seal.battery = next_level(seal.battery, fix.battery_pct, s)
    after = transit_level(mem)
    if after == before:
        return []
    t = fix.t.timestamp()
    evidence = {"battery_pct": fix.battery_pct, "level": after, "previous_level": before}
    if after == "ok":
        return [
            Condition(
                "low_battery",
                "clear",
                ctx.transit_id,
                fix.seal_id,
                t,
                fix.lat,
                fix.lon,
                "warning",
                evidence,
                resolve=s.low_battery_auto_resolve,
                reason="battery recovered",
            )
        ]
    return [Condition("low_battery", "raise", ctx.transit_id, fix.seal_id, t, fix.lat, fix.lon, after, evidence)]
