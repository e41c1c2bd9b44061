"""Alerts from observations, fixes and timers.

``alerts.rules`` (pure, one module per rule) → ``alerts.dedup`` (one open alert per transit and
type) → ``alerts.service.AlertService`` (database, history, stream, customs arrival). Operators
work alerts through ``alerts.lifecycle`` (API: ``api/alerts_routes.py``); dispatches reach mobile
groups over MQTT through the outbox in ``alerts.dispatch``; ``alerts.stream`` feeds SSE clients.
"""
