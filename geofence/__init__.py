"""Vectorized geofence engine: corridors and zones, per-seal state, observations per batch."""
