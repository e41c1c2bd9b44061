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
SEAL_STATES = {"closed": N_("seal closed"), "opened": N_("seal open"), "tampered": N_("seal tampered with")}
CHANNELS = {"green": N_("green"), "blue": N_("blue"), "yellow": N_("yellow"), "red": N_("red")}
TRANSIT_STATUSES = {"active": N_("in transit"), "arrived": N_("arrived, not closed"), "closed": N_("transit closed")}
DECLARATION_STATUSES = {
    "submitted": N_("submitted"),
    "accepted": N_("accepted"),
    "rejected": N_("rejected"),
    "held": N_("held"),
    "released": N_("released"),
    "arrived": N_("arrived"),
    "closed": N_("closed"),
    "cancelled": N_("cancelled"),
}
OBSERVATIONS = {
    "corridor_exit": N_("left the corridor"),
    "corridor_reentry": N_("back in the corridor"),
    "zone_enter": N_("entered a zone"),
    "zone_exit": N_("left a zone"),
    "checkpoint_enter": N_("at the border checkpoint"),
    "checkpoint_exit": N_("left the border checkpoint"),
    "stop_start": N_("stopped"),
    "stop_end": N_("moving again"),
    "jump": N_("implausible jump"),
    "arrival": N_("arrived at destination"),
}
DATASETS = {
    "tracks": N_("Track (every fix)"),
    "observations": N_("Observations"),
    "alerts": N_("Alerts"),
    "transits": N_("Transit"),
}
# Format and logical control, and the single-window permit check: what each error code means.
ERROR_CODES = {
    "missing_field": N_("This field is required."),
    "invalid_type": N_("This value has the wrong type."),
    "unexpected_field": N_("This field is not part of a declaration."),
    "invalid_number": N_("Enter a valid number."),
    "text_length": N_("The text is too short or too long."),
    "invalid_characters": N_("The text contains characters that are not allowed."),
    "tin_format": N_("Not a valid taxpayer identification number."),
    "plate_format": N_("Not a valid registration plate."),
    "container_format": N_("Not a valid container number (ISO 6346)."),
    "hs_code_format": N_("An HS code has 6 to 10 digits."),
    "unknown_currency": N_("Unknown currency."),
    "unknown_country": N_("Unknown country code."),
    "no_items": N_("Declare at least one goods item."),
    "too_many_items": N_("Too many goods items."),
    "duplicate_item": N_("This item is declared twice."),
    "duplicate_container": N_("This container is listed twice."),
    "net_exceeds_gross": N_("Net mass exceeds gross mass."),
    "mass_not_positive": N_("The mass must be more than zero."),
    "negative_value": N_("The value cannot be negative."),
    "packages_not_positive": N_("At least one package."),
    "unknown_office": N_("Unknown customs office."),
    "same_office": N_("Departure and destination are the same office."),
    "unknown_route": N_("Unknown route."),
    "unknown_place": N_("Unknown place on the itinerary."),
    "itinerary_ambiguous": N_("Give a route or an itinerary, not both."),
    "itinerary_disconnected": N_("The itinerary does not connect departure and destination."),
    "transit_office_off_route": N_("An office of transit is not on the route."),
    "too_many_seals": N_("More seals than a transit may carry."),
    "seal_count_invalid": N_("The number of seals is not valid."),
    "permit_missing": N_("A permit is required for these goods."),
    "permit_expired": N_("The permit has expired."),
    "permit_wrong_holder": N_("The permit belongs to another holder."),
    "permit_exhausted": N_("The permit's quantity is used up."),
}
GROUP_STATES = {"available": N_("available"), "busy": N_("busy"), "stale": N_("no recent position")}
# What an alert's evidence holds (alerts/rules, geofence observations), as the console names it.
EVIDENCE = {
    "observation": N_("Observation"),
    "distance_m": N_("Distance"),
    "battery_pct": N_("Battery"),
    "level": N_("Level"),
    "previous_level": N_("Previous level"),
    "from_state": N_("Seal before"),
    "to_state": N_("Seal after"),
    "seq": N_("Message number"),
    "silent_s": N_("Silent for"),
    "last_fix_t": N_("Last fix"),
    "ever_reported": N_("Has ever reported"),
    "deadline": N_("Deadline"),
    "overdue_s": N_("Overdue by"),
    "started_at": N_("Stopped since"),
    "duration_s": N_("Stopped for"),
    "jam_s": N_("In a traffic jam for"),
    "aetr_break": N_("Driver's rest break (AETR)"),
    "allowed_s": N_("Stop allowed for"),
    "driving_before_s": N_("Driving before the stop"),
    "area": N_("Stop area"),
    "area_kind": N_("Kind of area"),
    "area_purpose": N_("Purpose of the area"),
    "zone_code": N_("Zone"),
    "zone_kind": N_("Kind of zone"),
    "office": N_("Customs office"),
    "arrival_t": N_("Arrived at"),
    "speed_kmh": N_("Speed"),
    "implied_speed_kmh": N_("Implied speed"),
    "at_destination": N_("At the destination"),
}

KINDS: dict[str, dict[str, str]] = {
    "alert_type": ALERT_TYPES,
    "severity": SEVERITIES,
    "alert_status": ALERT_STATUSES,
    "outcome": OUTCOMES,
    "role": ROLES,
    "state": dict(STATUS_LABELS),
    "step": STEPS,
    "group_state": GROUP_STATES,
    "evidence": EVIDENCE,
    "compass": COMPASS,
    "seal_state": SEAL_STATES,
    "channel": CHANNELS,
    "transit_status": TRANSIT_STATUSES,
    "declaration_status": DECLARATION_STATUSES,
    "observation": OBSERVATIONS,
    "dataset": DATASETS,
    "error_code": ERROR_CODES,
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
