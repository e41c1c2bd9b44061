"""Alerts from observations and timers (issue 5: not built yet)."""
