"""Tests of the geofence engine against scenarios and a per-fix reference implementation."""
