"""The route editor: the routes with their current version at ``/routes`` and one route's line and
corridor on the map at ``/routes/{code}``, edited by dragging vertices, imported from a file or
learned from past tracks. The editing controls are offered only when the role's rule in
``api.auth.ACCESS`` allows the geometry calls; other roles see the page read-only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auditor_pages import map_tiles
from api.auth import CurrentUser
from api.deps import SettingsDep
from api.web import allowed, render

router = APIRouter()

ACTIONS = {
    "edit": ("PUT", "/api/routes/{code}/geometry"),
    "import": ("POST", "/api/routes/{code}/geometry/import"),
    "learn": ("POST", "/api/routes/{code}/learn"),
}


@router.get("/routes", response_class=HTMLResponse, include_in_schema=False)
async def routes_page(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(request, "routes.html", js={"permissions": allowed(user, ACTIONS)})


@router.get("/routes/{code}", response_class=HTMLResponse, include_in_schema=False)
async def route_editor_page(code: str, request: Request, user: CurrentUser, settings: SettingsDep) -> HTMLResponse:
    permissions = allowed(user, ACTIONS)
    return render(
        request,
        "route.html",
        code=code.upper(),
        editable=permissions["edit"],
        js={"permissions": permissions, "routeCode": code.upper(), "tiles": map_tiles(settings)},
    )
