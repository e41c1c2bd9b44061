"""Operational status of a seal from its latest fix, and the colour the map draws it in.

One pure function so the API, the map and the tests agree on what "stopped" or "no signal" means.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sealwatch.config import Settings


class SealStatus(StrEnum):
    """Statuses in precedence order: the first that applies is the seal's status."""

    TAMPERED = "tampered"
    OPENED = "opened"
    NO_SIGNAL = "no_signal"
    LOW_BATTERY = "low_battery"
    STOPPED = "stopped"
    MOVING = "moving"


STATUS_COLORS: dict[str, str] = {
    SealStatus.TAMPERED: "#8e24aa",
    SealStatus.OPENED: "#d62728",
    SealStatus.NO_SIGNAL: "#7f7f7f",
    SealStatus.LOW_BATTERY: "#ff9800",
    SealStatus.STOPPED: "#1f77b4",
    SealStatus.MOVING: "#2ca02c",
}

STATUS_LABELS: dict[str, str] = {
    SealStatus.TAMPERED: "Tampered",
    SealStatus.OPENED: "Opened",
    SealStatus.NO_SIGNAL: "No signal",
    SealStatus.LOW_BATTERY: "Low battery",
    SealStatus.STOPPED: "Stopped",
    SealStatus.MOVING: "Moving",
}


def classify(
    seal_state: str,
    t: datetime,
    speed_kmh: float | None,
    battery_pct: float,
    now: datetime,
    settings: Settings,
) -> SealStatus:
    """The seal's status at ``now`` given its latest fix (``t`` and ``now`` must be timezone-aware).

    A breached seal outranks everything: an opened container matters even if the seal then went silent.
    A seal that stopped reporting is "no signal" whatever its last battery or speed said, since those are stale.
    """
    if seal_state == "tampered":
        return SealStatus.TAMPERED
    if seal_state == "opened":
        return SealStatus.OPENED
    if (now - t).total_seconds() > settings.no_signal_after_s:
        return SealStatus.NO_SIGNAL
    if battery_pct < settings.low_battery_pct:
        return SealStatus.LOW_BATTERY
    # A fix without speed (no GNSS velocity) cannot show movement, so it counts as stopped.
    if speed_kmh is None or speed_kmh < settings.stopped_below_kmh:
        return SealStatus.STOPPED
    return SealStatus.MOVING
