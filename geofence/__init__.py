"""Vectorized geofence engine: corridors and zones, per-seal state, observations per batch."""

from geofence.engine import Engine, EngineStats
from geofence.model import (
    AUTHORIZED_STOP_KINDS,
    EngineConfig,
    Observation,
    ObservationKind,
    TransitSpec,
    ZoneKind,
    ZoneSpec,
)

__all__ = [
    "AUTHORIZED_STOP_KINDS",
    "Engine",
    "EngineConfig",
    "EngineStats",
    "Observation",
    "ObservationKind",
    "TransitSpec",
    "ZoneKind",
    "ZoneSpec",
]
