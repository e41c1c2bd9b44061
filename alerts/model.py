"""The vocabulary of alerts: types, severities, statuses, what rules emit and what the service returns.

Rules are pure: they read a :class:`TransitContext` (what customs says about the transit) and a
:class:`TransitMemory` (what the rules remembered from earlier fixes, persisted per transit) and
emit :class:`Condition` s. The dedup step (``alerts.dedup``) turns a condition plus the currently
open alert of that (transit, type) into a decision; the service applies it to the database and
returns one :class:`AlertEvent` per change, each carrying its ``alert_stream`` id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from alerts.stops import StopPolicy

AlertType = Literal[
    "route_deviation",
    "unauthorized_stop",
    "seal_opened",
    "seal_tampered",
    "restricted_zone",
    "low_battery",
    "signal_lost",
    "overdue",
    "gps_jump",
    "arrival",
]
Severity = Literal["info", "warning", "critical"]
AlertStatus = Literal["open", "acknowledged", "dispatched", "resolved"]
Outcome = Literal["false_alarm", "violation_confirmed", "technical_fault", "other", "auto_cleared"]
OperatorOutcome = Literal["false_alarm", "violation_confirmed", "technical_fault", "other"]
BatteryLevel = Literal["ok", "warning", "critical"]
Change = Literal[
    "raised",
    "updated",
    "reopened",
    "cleared",
    "resolved",
    "acknowledged",
    "dispatched",
    "on_scene",
    "escalated",
    "severity",
]

ALERT_TYPES: tuple[str, ...] = get_args(AlertType)
SEVERITIES: tuple[str, ...] = get_args(Severity)
OPERATOR_OUTCOMES: tuple[str, ...] = get_args(OperatorOutcome)
SYSTEM = "system"


class AlertError(Exception):
    """Base of the alert domain's errors."""


class AlertNotFoundError(AlertError):
    pass


class AlertConflictError(AlertError):
    """The alert's current status forbids the requested step (HTTP 409)."""


def to_epoch(t: datetime) -> float:
    return t.timestamp()


def from_epoch(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


@dataclass(frozen=True, slots=True)
class TransitContext:
    """What the rules need to know about a monitored transit."""

    transit_id: str
    status: str  # active | arrived
    deadline: float  # epoch seconds
    released_at: float
    office_destination: str
    route_code: str | None = None
    arrived_at: float | None = None  # set when customs recorded the arrival (engine or officer)
    # Destination office zone as a (lon, lat) ring; used to tell "opened at the office" after arrival.
    destination_ring: tuple[tuple[float, float], ...] = ()
    stop_tolerance_s: float | None = None  # the route's tolerated stop outside the stop areas
    # Stop areas and the congestion signal, shared by every context (None: only the engine's flag).
    stops: StopPolicy | None = field(default=None, compare=False, hash=False)


@dataclass(slots=True)
class SealMemory:
    last_t: float | None = None  # latest accepted fix of this seal (late fixes are older)
    state: str = "closed"  # a seal is closed when released into transit
    battery: BatteryLevel = "ok"
    drive_s: float = 0.0  # driving since the last AETR break (or the release)
    drive_t: float | None = None  # the fix that drive_s counts up to
    drive_lat: float | None = None  # and where it was
    drive_lon: float | None = None


@dataclass(slots=True)
class PendingStop:
    """A stop being judged (see ``alerts.rules.unauthorized_stop``)."""

    seal_id: str
    started_at: float
    lat: float
    lon: float
    evidence: dict[str, Any] = field(default_factory=dict)
    allowed_s: float | None = None  # how long it may last; None: no limit (office, queue area)
    area: str = ""  # the stop area it is in, if any
    aetr_break: bool = False  # due the AETR break: allowed at least stop_aetr_break_s
    jam_s: float = 0.0  # time it stood in a jam (not counted, up to stop_jam_hold_max_s)
    jam: int = 0  # seals in the jam at the last look
    jam_t: float | None = None  # when a jam was last seen around it
    last_t: float | None = None  # when it was last judged
    severity: str = ""  # what it was raised with ("" not raised)


@dataclass(slots=True)
class TransitMemory:
    """Per-transit rule memory, stored as JSON in ``alert_transit_state``."""

    last_fix_t: float | None = None  # newest fix of any seal of the transit
    last_lat: float | None = None
    last_lon: float | None = None
    seals: dict[str, SealMemory] = field(default_factory=dict)
    arrived_at: float | None = None
    stop: PendingStop | None = None  # the stop being judged, until the seal moves again

    def seal(self, seal_id: str) -> SealMemory:
        mem = self.seals.get(seal_id)
        if mem is None:
            mem = self.seals[seal_id] = SealMemory()
        return mem

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransitMemory:
        stop = data.get("stop")
        return cls(
            last_fix_t=data.get("last_fix_t"),
            last_lat=data.get("last_lat"),
            last_lon=data.get("last_lon"),
            seals={k: SealMemory(**v) for k, v in (data.get("seals") or {}).items()},
            arrived_at=data.get("arrived_at"),
            stop=PendingStop(**stop) if stop else None,
        )


ConditionAction = Literal["raise", "clear"]


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's verdict about one (transit, type): the condition holds ("raise") or ended ("clear").

    ``refresh`` False (timers): an alert already open is left untouched instead of being counted
    again on every tick. ``resolve`` on a clear: resolve the alert (True) or only note the clearing
    in its history for the operator (False).
    """

    type: AlertType
    action: ConditionAction
    transit_id: str
    seal_id: str
    t: float  # epoch seconds of the fix / observation / tick
    lat: float | None
    lon: float | None
    severity: Severity = "warning"
    evidence: dict[str, Any] = field(default_factory=dict)
    refresh: bool = True
    resolve: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One committed change of an alert, as published on the stream."""

    stream_id: int
    change: Change
    alert_id: int
    type: AlertType
    severity: Severity
    status: AlertStatus
    transit_id: str
    seal_id: str
    t: datetime
    lat: float | None
    lon: float | None
    evidence: dict[str, Any]
    alert: dict[str, Any]  # the alert row as JSON, what SSE clients receive
