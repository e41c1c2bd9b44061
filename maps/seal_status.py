"""A monitored seal's state, and the colour the console draws it in.

One pure function so the API, the console and the tests agree on what "deviating" or "silent"
means. The state comes from the transit's open alerts and timers as well as from the latest fix:
a seal that left its corridor is "deviating" while its alert is open, whatever its speed; a seal
that has not reported for ``no_signal_after_s`` is "silent" even before the signal-lost timer
raised its alert; a transit past its deadline is "overdue".
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import StrEnum

from maps.i18n import N_
from sealwatch.config import Settings


class SealStatus(StrEnum):
    """States from the most to the least severe: the console draws and sorts by this order."""

    TAMPERED = "tampered"
    OPENED = "opened"
    DEVIATING = "deviating"
    SILENT = "silent"
    OVERDUE = "overdue"
    STOPPED = "stopped"
    LOW_BATTERY = "low_battery"
    MOVING = "moving"


STATUS_ORDER: tuple[SealStatus, ...] = tuple(SealStatus)
STATUS_RANK: dict[str, int] = {s.value: i for i, s in enumerate(STATUS_ORDER)}

STATUS_COLORS: dict[str, str] = {
    SealStatus.TAMPERED: "#6a1b9a",
    SealStatus.OPENED: "#d62728",
    SealStatus.DEVIATING: "#ff5722",
    SealStatus.SILENT: "#757575",
    SealStatus.OVERDUE: "#8d6e63",
    SealStatus.STOPPED: "#1f77b4",
    SealStatus.LOW_BATTERY: "#fbc02d",
    SealStatus.MOVING: "#2ca02c",
}

STATUS_LABELS: dict[str, str] = {
    SealStatus.TAMPERED: N_("Tampered"),
    SealStatus.OPENED: N_("Opened"),
    SealStatus.DEVIATING: N_("Deviating"),
    SealStatus.SILENT: N_("Silent"),
    SealStatus.OVERDUE: N_("Overdue"),
    SealStatus.STOPPED: N_("Stopped"),
    SealStatus.LOW_BATTERY: N_("Low battery"),
    SealStatus.MOVING: N_("Moving"),
}

_DEVIATION_ALERTS = frozenset({"route_deviation", "restricted_zone"})


def classify(
    seal_state: str,
    t: datetime,
    speed_kmh: float | None,
    battery_pct: float,
    now: datetime,
    settings: Settings,
    open_alerts: Collection[str] = (),
    deadline: datetime | None = None,
) -> SealStatus:
    """The seal's state at ``now`` from its latest fix, its transit's open alert types and deadline.

    A breached seal outranks everything: an opened container matters even if the seal then went
    silent. A silent seal's speed and battery are stale, so they no longer decide its state.
    An unauthorized stop (its alert is open) outranks a low battery; an ordinary stop does not.
    """
    if seal_state == "tampered" or "seal_tampered" in open_alerts:
        return SealStatus.TAMPERED
    if seal_state == "opened" or "seal_opened" in open_alerts:
        return SealStatus.OPENED
    if _DEVIATION_ALERTS.intersection(open_alerts):
        return SealStatus.DEVIATING
    if (now - t).total_seconds() > settings.no_signal_after_s or "signal_lost" in open_alerts:
        return SealStatus.SILENT
    if "overdue" in open_alerts or (deadline is not None and now > deadline):
        return SealStatus.OVERDUE
    if "unauthorized_stop" in open_alerts:
        return SealStatus.STOPPED
    if battery_pct < settings.low_battery_pct or "low_battery" in open_alerts:
        return SealStatus.LOW_BATTERY
    # A fix without speed (no GNSS velocity) cannot show movement, so it counts as stopped.
    if speed_kmh is None or speed_kmh < settings.stopped_below_kmh:
        return SealStatus.STOPPED
    return SealStatus.MOVING
