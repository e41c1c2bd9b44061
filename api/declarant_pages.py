"""The declarant's workspace: its own declarations and their state at ``/declarant``, and the
form that lodges one at ``/declarant/new`` (each control error shown at its field)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import CurrentUser
from api.web import allowed, render

router = APIRouter()

ACTIONS = {
    "lodge": ("POST", "/api/declarations"),
    "cancel": ("POST", "/api/declarations/{declaration_id}/cancel"),
}


@router.get("/declarant", response_class=HTMLResponse, include_in_schema=False)
async def declarations_page(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(request, "declarant.html", js={"permissions": allowed(user, ACTIONS)})


@router.get("/declarant/new", response_class=HTMLResponse, include_in_schema=False)
async def lodge_page(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(
        request, "lodge.html", tin=user.tin or "", js={"permissions": allowed(user, ACTIONS), "tin": user.tin}
    )
