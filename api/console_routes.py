"""The operations console at ``/``: the unit list, the live map and the alert workflow in one page.

The page is a template plus small JS modules (``maps/static/console*.js``); everything it needs at
start (the role's permitted actions, the routes and offices to draw, the state palette, the API
addresses) is in the page's JSON configuration block, so the page runs no inline script.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auditor_pages import map_tiles
from api.auth import CurrentUser
from api.deps import SettingsDep
from api.web import allowed, render
from maps.seal_status import STATUS_COLORS, STATUS_ORDER
from maps.vocabulary import ALERT_TYPES
from sealwatch.config import Settings
from sealwatch.geography import ROUTES, offices, route_lonlat

router = APIRouter()

ACTIONS = {
    "acknowledge": ("POST", "/api/alerts/{alert_id}/acknowledge"),
    "dispatch": ("POST", "/api/alerts/{alert_id}/dispatch"),
    "resolve": ("POST", "/api/alerts/{alert_id}/resolve"),
    "history": ("GET", "/auditor/transits/{transit_id}"),
    "playback": ("GET", "/transits/{transit_id}/playback"),
    "groups": ("GET", "/api/groups"),
    "routes": ("GET", "/routes"),
}
POLL_MS = 3000
GROUPS_POLL_MS = 15_000
OUTCOMES = ("violation_confirmed", "false_alarm", "technical_fault", "other")


def _geography() -> dict[str, Any]:
    """Routes (as [lat, lon] lines) and customs places: the layer above the open-data basemap."""
    return {
        "routes": [
            {"code": r.code, "name": r.name, "line": [[lat, lon] for lon, lat in route_lonlat(r)]}
            for r in ROUTES.values()
        ],
        "places": [{"name": p.name, "kind": p.kind.value, "lat": p.lat, "lon": p.lon} for p in offices()],
    }


def console_config(settings: Settings, permissions: dict[str, bool]) -> dict[str, Any]:
    return {
        "permissions": permissions,
        "tiles": map_tiles(settings),
        "states": [s.value for s in STATUS_ORDER],
        "stateColors": dict(STATUS_COLORS),
        "alertTypes": list(ALERT_TYPES),
        "outcomes": list(OUTCOMES),
        "pollMs": POLL_MS,
        "groupsPollMs": GROUPS_POLL_MS,
        "basemap": "/static/basemap/manifest.json",
        **_geography(),
    }


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def console(request: Request, user: CurrentUser, settings: SettingsDep) -> HTMLResponse:
    permissions = allowed(user, ACTIONS)
    return render(
        request,
        "console.html",
        states=[(s.value, STATUS_COLORS[s]) for s in STATUS_ORDER],
        alert_types=list(ALERT_TYPES),
        routes_link=permissions["routes"],
        js=console_config(settings, permissions),
    )
