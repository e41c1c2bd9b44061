"""The mobile group's workspace at ``/group``: a phone-first page, installable as a web app.

The page itself is ``maps/templates/group.html`` with ``maps/static/group.js``. Its web app manifest
and service worker are served here (both public: a browser fetches a manifest without cookies, and
they hold no data); the service worker keeps the page's shell for a bad connection and never caches
the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.auth import CurrentUser
from api.web import allowed, render, translate
from maps.i18n import N_
from maps.live import STATIC_DIR

router = APIRouter()

SCOPE = "/group"
# Actions the page offers, by the API route that performs each.
ACTIONS = {
    "acknowledge": ("POST", "/api/alerts/{alert_id}/acknowledge"),
    "on_scene": ("POST", "/api/alerts/{alert_id}/on-scene"),
    "resolve": ("POST", "/api/alerts/{alert_id}/resolve"),
    "position": ("POST", "/api/group/position"),
}


@router.get("/group", response_class=HTMLResponse, include_in_schema=False)
async def group_page(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(
        request,
        "group.html",
        js={"permissions": allowed(user, ACTIONS), "groupId": user.group_id, "swScope": SCOPE},
    )


@router.get("/group/manifest.webmanifest", include_in_schema=False)
async def group_manifest(request: Request) -> JSONResponse:
    name = translate(request, N_("sealwatch mobile group"))
    manifest = {
        "name": name,
        "short_name": "sealwatch",
        "description": translate(request, N_("The alerts dispatched to your group, and the steps you take on them.")),
        "start_url": SCOPE,
        "scope": SCOPE,
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f3f4f6",
        "theme_color": "#102a43",
        "icons": [
            {"src": "/static/icons/group-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": "/static/icons/group-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any"},
        ],
    }
    return JSONResponse(manifest, media_type="application/manifest+json")


@router.get("/group/sw.js", include_in_schema=False)
async def group_service_worker() -> Response:
    # Served from /group/ but controlling /group itself (no trailing slash): the header allows that scope.
    return Response(
        (STATIC_DIR / "group-sw.js").read_bytes(),
        media_type="text/javascript",
        headers={"Service-Worker-Allowed": SCOPE, "Cache-Control": "no-cache"},
    )
