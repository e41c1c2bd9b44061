"""Faults a tester injects into a virtual seal: what goes wrong, when, for how long.

Times are seconds of simulated time since the seal started. ``parse_fault`` reads the
command-line form ``KIND:SEAL[@MINUTES][/DURATION_MIN][=MAGNITUDE]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class FaultKind(StrEnum):
    DEVIATION = "deviation"  # leaves the corridor sideways by `magnitude` metres
    STOP = "stop"  # stands still for the duration
    OPENED = "opened"  # seal opened (stays opened)
    TAMPER = "tamper"  # tamper flag set (stays until re-armed)
    SIGNAL_LOSS = "signal_loss"  # records but cannot publish; flushes the buffer as a batch after
    LOW_BATTERY = "low_battery"  # battery falls to `magnitude` % over the duration
    GPS_JUMP = "gps_jump"  # one fix `magnitude` metres away (spoofing / jamming)


# Defaults chosen so each fault clearly crosses the engine's thresholds.
DEFAULT_DURATION_S: dict[FaultKind, float] = {
    FaultKind.DEVIATION: 20 * 60,
    FaultKind.STOP: 20 * 60,
    FaultKind.OPENED: 0,
    FaultKind.TAMPER: 0,
    FaultKind.SIGNAL_LOSS: 15 * 60,
    FaultKind.LOW_BATTERY: 10 * 60,
    FaultKind.GPS_JUMP: 0,
}
DEFAULT_MAGNITUDE: dict[FaultKind, float] = {
    FaultKind.DEVIATION: 6_000.0,
    FaultKind.LOW_BATTERY: 8.0,
    FaultKind.GPS_JUMP: 40_000.0,
}
DEFAULT_AT_S = 10 * 60


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    at_s: float = DEFAULT_AT_S
    duration_s: float | None = None
    magnitude: float | None = None

    @property
    def duration(self) -> float:
        return DEFAULT_DURATION_S[self.kind] if self.duration_s is None else self.duration_s

    @property
    def size(self) -> float:
        return DEFAULT_MAGNITUDE.get(self.kind, 0.0) if self.magnitude is None else self.magnitude

    @property
    def end_s(self) -> float:
        return self.at_s + self.duration

    def active(self, elapsed_s: float) -> bool:
        return self.at_s <= elapsed_s < self.end_s

    def started(self, elapsed_s: float) -> bool:
        return elapsed_s >= self.at_s


_SPEC = re.compile(
    r"^(?P<kind>[a-z_]+):(?P<seal>[^@/=\s]+)"
    r"(?:@(?P<at>\d+(?:\.\d+)?))?(?:/(?P<dur>\d+(?:\.\d+)?))?(?:=(?P<mag>\d+(?:\.\d+)?))?$"
)


def parse_fault(text: str) -> tuple[str, Fault]:
    """``deviation:AZS-00003@10/20=6000`` → (seal selector, Fault). Minutes for @ and /.

    The seal selector is a seal id or ``#N`` (the N-th seal of the fleet, from 0).
    """
    m = _SPEC.match(text.strip())
    if not m:
        raise ValueError(f"bad fault {text!r}: expected KIND:SEAL[@MINUTES][/DURATION_MIN][=MAGNITUDE]")
    try:
        kind = FaultKind(m["kind"])
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"unknown fault kind {m['kind']!r}; known: {known}") from None
    return m["seal"], Fault(
        kind,
        at_s=float(m["at"]) * 60 if m["at"] else DEFAULT_AT_S,
        duration_s=float(m["dur"]) * 60 if m["dur"] else None,
        magnitude=float(m["mag"]) if m["mag"] else None,
    )
