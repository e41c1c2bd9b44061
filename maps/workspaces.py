"""Each role's workspace: where it lands after login, and what its pages say it can do.

A capability names the API route that performs it; pages list (and offer) only what the role's
rule in ``api.auth.ACCESS`` allows, so the table of who may do what stays in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from maps.i18n import N_

# Role -> path of its workspace. The operations console is at /.
WORKSPACES: dict[str, str] = {
    "operator": "/",
    "admin": "/",
    "officer": "/officer",
    "auditor": "/auditor",
    "mobile_group": "/group",
    "declarant": "/declarant",
}


@dataclass(frozen=True, slots=True)
class Capability:
    key: str
    text: str
    method: str
    path: str
    link: str | None = None


CAPABILITIES: tuple[Capability, ...] = (
    Capability("console", N_("Open the operations console: live map, units and alerts"), "GET", "/", "/"),
    Capability("queue", N_("Work the declaration queue"), "GET", "/officer", "/officer"),
    Capability(
        "routes", N_("Edit routes and their corridors on the map"), "PUT", "/api/routes/{code}/geometry", "/routes"
    ),
    Capability("acknowledge", N_("Acknowledge alerts"), "POST", "/api/alerts/{alert_id}/acknowledge"),
    Capability("dispatch", N_("Dispatch alerts to mobile groups"), "POST", "/api/alerts/{alert_id}/dispatch"),
    Capability("resolve", N_("Resolve alerts with an outcome and a comment"), "POST", "/api/alerts/{alert_id}/resolve"),
    Capability("alerts", N_("Read alerts and their history"), "GET", "/api/alerts"),
    Capability("history", N_("Read transit history, tracks and playback"), "GET", "/api/history/transits"),
    Capability(
        "exports", N_("Export tracks, observations, alerts and transits"), "GET", "/api/history/export/{dataset}"
    ),
    Capability("trs", N_("Read the Time Release Study"), "GET", "/api/trs"),
    Capability("declare", N_("Lodge transit declarations"), "POST", "/api/declarations"),
    Capability(
        "release",
        N_("Release declarations into monitored transit"),
        "POST",
        "/api/declarations/{declaration_id}/release",
    ),
    Capability("audit", N_("Verify the audit log"), "GET", "/api/audit/verify"),
    Capability("users", N_("Manage users"), "GET", "/api/users"),
    Capability("keys", N_("Provision and rotate seal keys"), "POST", "/api/devices/{seal_id}/keys"),
    Capability("docs", N_("API documentation"), "GET", "/docs", "/docs"),
)
