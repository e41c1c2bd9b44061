"""The customs officer's workspace: the declaration queue at ``/officer`` and a declaration's page,
from control results and risk to release with seals from the inventory, arrival and closing.
Each action is offered only when the role's rule in ``api.auth.ACCESS`` allows it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auditor_pages import map_tiles
from api.auth import CurrentUser
from api.deps import SettingsDep
from api.web import allowed, render

router = APIRouter()

ACTIONS = {
    "recheck": ("POST", "/api/declarations/{declaration_id}/recheck"),
    "risk": ("POST", "/api/declarations/{declaration_id}/risk"),
    "release": ("POST", "/api/declarations/{declaration_id}/release"),
    "reject": ("POST", "/api/declarations/{declaration_id}/reject"),
    "cancel": ("POST", "/api/declarations/{declaration_id}/cancel"),
    "arrive": ("POST", "/api/transits/{transit_id}/arrive"),
    "close": ("POST", "/api/transits/{transit_id}/close"),
    "console": ("GET", "/"),
    "record": ("GET", "/auditor/transits/{transit_id}"),
}


@router.get("/officer", response_class=HTMLResponse, include_in_schema=False)
async def queue_page(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(request, "officer.html", js={"permissions": allowed(user, ACTIONS)})


@router.get("/officer/declarations/{declaration_id}", response_class=HTMLResponse, include_in_schema=False)
async def declaration_page(
    declaration_id: int, request: Request, user: CurrentUser, settings: SettingsDep
) -> HTMLResponse:
    return render(
        request,
        "declaration.html",
        declaration_id=declaration_id,
        js={"permissions": allowed(user, ACTIONS), "declarationId": declaration_id, "tiles": map_tiles(settings)},
    )
