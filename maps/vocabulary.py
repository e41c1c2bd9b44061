"""Translatable names of the values pages show: alert types, severities, statuses, outcomes, roles,
seal states. Marked with ``N_`` for extraction; :func:`labels` translates them for one locale
(templates use it, and JS modules receive it in the page's configuration)."""

from __future__ import annotations

from maps.i18n import LOCALES, N_, gettext
from maps.seal_status import STATUS_LABELS

ALERT_TYPES = {
    "route_deviation": N_("Route deviation"),
    "unauthorized_stop": N_("Unauthorized stop"),
    "seal_opened": N_("Seal opened"),
    "seal_tampered": N_("Seal tampered"),
    "restricted_zone": N_("Restricted zone"),
    "low_battery": N_("Low battery"),
    "signal_lost": N_("Signal lost"),
    "overdue": N_("Overdue"),
    "gps_jump": N_("Implausible GPS jump"),
    "arrival": N_("Arrival"),
}
SEVERITIES = {"critical": N_("Critical"), "warning": N_("Warning"), "info": N_("Information")}
ALERT_STATUSES = {
    "open": N_("Open"),
    "acknowledged": N_("Acknowledged"),
    "dispatched": N_("Dispatched"),
    "resolved": N_("Resolved"),
}
OUTCOMES = {
    "false_alarm": N_("False alarm"),
    "violation_confirmed": N_("Violation confirmed"),
    "technical_fault": N_("Technical fault"),
    "other": N_("Other"),
    "auto_cleared": N_("Cleared automatically"),
}
ROLES = {
    "operator": N_("Operator"),
    "officer": N_("Customs officer"),
    "mobile_group": N_("Mobile group"),
    "auditor": N_("Auditor"),
    "declarant": N_("Declarant"),
    "admin": N_("Administrator"),
}
# Steps of an alert's history (alert_events.kind) and stream changes.
STEPS = {
    "raised": N_("raised"),
    "updated": N_("repeated"),
    "reopened": N_("reopened"),
    "cleared": N_("condition ended"),
    "resolved": N_("resolved"),
    "acknowledged": N_("acknowledged"),
    "dispatched": N_("dispatched"),
    "on_scene": N_("on scene"),
    "escalated": N_("escalated"),
    "severity": N_("severity changed"),
}
COMPASS = {
    "N": N_("north"),
    "NE": N_("north-east"),
    "E": N_("east"),
    "SE": N_("south-east"),
    "S": N_("south"),
    "SW": N_("south-west"),
    "W": N_("west"),
    "NW": N_("north-west"),
}
GROUP_STATES = {"available": N_("available"), "busy": N_("busy"), "stale": N_("no recent position")}

KINDS: dict[str, dict[str, str]] = {
    "alert_type": ALERT_TYPES,
    "severity": SEVERITIES,
    "alert_status": ALERT_STATUSES,
    "outcome": OUTCOMES,
    "role": ROLES,
    "state": dict(STATUS_LABELS),
    "step": STEPS,
    "group_state": GROUP_STATES,
    "compass": COMPASS,
}


def labels(locale: str) -> dict[str, dict[str, str]]:
    """Every vocabulary, translated: ``labels(locale)["alert_type"]["seal_opened"]``."""
    return {kind: {value: gettext(locale, text) for value, text in names.items()} for kind, names in KINDS.items()}


def label(locale: str, kind: str, value: str) -> str:
    text = KINDS.get(kind, {}).get(value)
    return gettext(locale, text) if text is not None else value


def words(kind: str, value: str) -> dict[str, str]:
    """One value's name in every language (for messages read outside a page: MQTT dispatches)."""
    text = KINDS.get(kind, {}).get(value)
    return {locale: gettext(locale, text) if text else value for locale in LOCALES}
