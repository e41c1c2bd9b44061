"""Inputs and outputs of the geofence engine: transit and zone specs, tuning, observations.

Observation kinds
-----------------
``corridor_exit`` / ``corridor_reentry``
    Hysteresis on the distance from the transit's route line (see :class:`EngineConfig`).
``zone_enter`` / ``zone_exit``
    Every zone, whatever its kind; ``evidence["zone_kind"]`` names the kind. Border checkpoints
    additionally get ``checkpoint_enter`` / ``checkpoint_exit`` with the same time, position and
    evidence, so the Time Release Study can select crossings by ``kind`` on the indexed table
    without parsing evidence (choice documented here: both kinds, not one of them).
``stop_start`` / ``stop_end``
    Evidence ``started_at`` (first slow fix), ``authorized`` (the fix that started the stop lies in
    an authorized_stop, customs_office or border_checkpoint zone) and, on the end, ``duration_s``.
``jump``
    Implausible implied speed from the last plausible fix; evidence ``implied_speed_kmh``,
    ``distance_m``, ``prev_t``, ``prev_lat``, ``prev_lon``.
``arrival``
    First fix inside the transit's destination zone, once per transit; evidence ``deadline`` and
    ``late`` (True when the fix is after the deadline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import shapely

from geofence.projection import point_to_metric, ring_to_lonlat

ZoneKind = Literal["customs_office", "border_checkpoint", "authorized_stop", "restricted_area"]
ObservationKind = Literal[
    "corridor_exit",
    "corridor_reentry",
    "zone_enter",
    "zone_exit",
    "checkpoint_enter",
    "checkpoint_exit",
    "stop_start",
    "stop_end",
    "jump",
    "arrival",
]
ZONE_KINDS: tuple[str, ...] = get_args(ZoneKind)
OBSERVATION_KINDS: tuple[str, ...] = get_args(ObservationKind)
# A stop inside one of these is where a truck is allowed to stand (offices, checkpoints, parkings).
AUTHORIZED_STOP_KINDS: frozenset[str] = frozenset({"authorized_stop", "customs_office", "border_checkpoint"})

LonLat = tuple[float, float]


@dataclass(frozen=True, slots=True)
class TransitSpec:
    """One active transit: the seal that guards it and the corridor it must keep to."""

    transit_id: str
    seal_id: str
    route: list[LonLat]  # polyline, (lon, lat) vertices
    corridor_width_m: float  # max allowed distance from the route line
    destination_zone: str | None = None  # ZoneSpec.code of the office of destination
    deadline: float | None = None  # epoch seconds
    # A width per route segment (wider in towns, on border approaches); None: corridor_width_m all along.
    segment_widths_m: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.route) < 2:
            raise ValueError(f"transit {self.transit_id}: route needs at least two vertices")
        if not self.corridor_width_m > 0:
            raise ValueError(f"transit {self.transit_id}: corridor_width_m must be positive")
        if self.segment_widths_m is not None:
            if len(self.segment_widths_m) != len(self.route) - 1:
                raise ValueError(f"transit {self.transit_id}: segment_widths_m needs one width per route segment")
            if not all(w > 0 for w in self.segment_widths_m):
                raise ValueError(f"transit {self.transit_id}: segment widths must be positive")

    @property
    def widths(self) -> float | tuple[float, ...]:
        return self.segment_widths_m if self.segment_widths_m is not None else self.corridor_width_m


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A named area; ``polygon`` is its exterior ring in (lon, lat) (closing vertex optional)."""

    code: str
    kind: ZoneKind
    polygon: list[LonLat]

    def __post_init__(self) -> None:
        if self.kind not in ZONE_KINDS:
            raise ValueError(f"zone {self.code}: unknown kind {self.kind!r}")
        if len(self.polygon) < 3:
            raise ValueError(f"zone {self.code}: polygon needs at least three vertices")

    @classmethod
    def circle(cls, code: str, kind: ZoneKind, lon: float, lat: float, radius_m: float, quad_segs: int = 8) -> ZoneSpec:
        """A circular zone around a point, buffered in the metric CRS so the radius is in metres."""
        x, y = point_to_metric(lon, lat)
        ring = shapely.get_coordinates(shapely.Point(x, y).buffer(radius_m, quad_segs=quad_segs).exterior)
        return cls(code=code, kind=kind, polygon=ring_to_lonlat(ring))


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Tuning of the checks. Times are seconds, speeds km/h.

    exit_min_fixes, exit_min_seconds
        A corridor exit needs at least ``exit_min_fixes`` consecutive fixes outside the corridor
        AND at least ``exit_min_seconds`` between the first of them and the current fix; both so
        that neither a burst of fixes nor one stale fix can trigger it.
    reentry_min_fixes
        Consecutive fixes inside the corridor that end an exit.
    stop_speed_kmh, stop_min_seconds
        A stop is a run of fixes slower than ``stop_speed_kmh`` lasting ``stop_min_seconds``
        (first slow fix to current fix). Reported speed is used; when it is absent (NaN) the
        implied speed from the previous plausible fix; with neither, the fix counts as moving.
    stop_moved_m
        A slow fix farther than this from the previous plausible fix ends the slow run and any
        stop, and begins a new run: the truck drove in between (across a silence, say), so it is
        not the same stop however slow both ends are. Above the scatter and multipath of a parked
        receiver (Traccar's minimal trip distance is the same 500 m).
    crossing_max_gap_s
        A zone crossed between two fixes (neither inside it) is inferred only when they are at most
        this far apart: across a long silence the straight line is not where the truck went.
    jump_max_kmh, jump_min_m
        A fix is a ``jump`` when its implied speed from the last plausible fix is above
        ``jump_max_kmh`` and it lies more than ``jump_min_m`` from that fix: at fixes a fraction of
        a second apart, ordinary GPS scatter alone implies hundreds of km/h.
    """

    exit_min_fixes: int = 3
    exit_min_seconds: float = 60.0
    reentry_min_fixes: int = 2
    stop_speed_kmh: float = 3.0
    stop_min_seconds: float = 300.0
    stop_moved_m: float = 500.0
    jump_max_kmh: float = 250.0
    jump_min_m: float = 250.0
    crossing_max_gap_s: float = 600.0

    def __post_init__(self) -> None:
        if self.exit_min_fixes < 1 or self.reentry_min_fixes < 1:
            raise ValueError("exit_min_fixes and reentry_min_fixes must be >= 1")
        if self.jump_max_kmh <= 0 or self.stop_speed_kmh < 0:
            raise ValueError("speeds must be positive")
        if self.jump_min_m < 0:
            raise ValueError("jump_min_m must not be negative")


@dataclass(slots=True)
class Observation:
    """One thing the engine saw; maps 1:1 to a row of the ``observations`` table.

    Treat as immutable. Not ``frozen`` only because a frozen dataclass costs ~4x more to build and
    a busy batch emits hundreds of these (measured: 1.7 µs vs 0.4 µs each).
    """

    seal_id: str
    transit_id: str
    kind: ObservationKind
    t: float  # epoch seconds
    lat: float
    lon: float
    zone_code: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def sort_key(self) -> tuple[str, float, str, str]:
        return (self.seal_id, self.t, self.kind, self.zone_code)
