"""The auditor's workspace: transit search, a transit's record, its playback, the Time Release
Study and alert statistics. Each page is a template with a small JS module that reads the history
API; every READ role may open them (operators reach a transit's record and playback from the console).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import CurrentUser
from api.deps import SettingsDep
from api.web import allowed, render
from sealwatch.config import Settings
from store.users import User

router = APIRouter()

LINKS = {
    "audit": ("GET", "/api/audit/verify"),
    "exports": ("GET", "/api/history/export/{dataset}"),
    "playback": ("GET", "/transits/{transit_id}/playback"),
}


def map_tiles(settings: Settings) -> dict[str, Any] | None:
    """The base-map tiles the pages' maps load (none unless configured: the page stays offline)."""
    return {"url": settings.tile_url, "attribution": settings.tile_attribution} if settings.tile_url else None


def _page(
    request: Request, user: User, settings: Settings, template: str, section: str, transit_id: str | None = None
) -> HTMLResponse:
    permissions = allowed(user, LINKS)
    return render(
        request,
        template,
        section=section,
        transit_id=transit_id,
        may_audit=permissions["audit"],
        js={"permissions": permissions, "tiles": map_tiles(settings), "transitId": transit_id},
    )


@router.get("/auditor", response_class=HTMLResponse, include_in_schema=False)
async def transit_search(request: Request, user: CurrentUser, settings: SettingsDep) -> HTMLResponse:
    return _page(request, user, settings, "auditor.html", "transits")


@router.get("/auditor/transits/{transit_id}", response_class=HTMLResponse, include_in_schema=False)
async def transit_page(transit_id: str, request: Request, user: CurrentUser, settings: SettingsDep) -> HTMLResponse:
    return _page(request, user, settings, "transit.html", "transits", transit_id)


@router.get("/transits/{transit_id}/playback", response_class=HTMLResponse, include_in_schema=False)
async def playback_page(transit_id: str, request: Request, user: CurrentUser, settings: SettingsDep) -> HTMLResponse:
    return _page(request, user, settings, "playback.html", "transits", transit_id)


@router.get("/auditor/trs", response_class=HTMLResponse, include_in_schema=False)
async def trs_page(request: Request, user: CurrentUser, settings: SettingsDep) -> HTMLResponse:
    return _page(request, user, settings, "trs.html", "trs")


@router.get("/auditor/alerts", response_class=HTMLResponse, include_in_schema=False)
async def alert_stats_page(request: Request, user: CurrentUser, settings: SettingsDep) -> HTMLResponse:
    return _page(request, user, settings, "alert_stats.html", "alerts")
