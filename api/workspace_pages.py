"""Landing pages of the roles whose own screens live elsewhere: auditor, mobile group, declarant.

Each lists, in the user's language, what the role can do (derived from ``api.auth.ACCESS``),
with links to the pages it may open. The role's own workspace replaces its page here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.auth import CurrentUser, may
from api.web import render, translate
from maps.workspaces import CAPABILITIES, INTROS, TITLES
from store.users import User

router = APIRouter()


def workspace_page(request: Request, user: User) -> HTMLResponse:
    role = user.role.value
    capabilities = [c for c in CAPABILITIES if may(user.role, c.method, c.path)]
    return render(
        request,
        "workspace.html",
        title=translate(request, TITLES[role]),
        intro=translate(request, INTROS[role]),
        capabilities=capabilities,
    )


@router.get("/officer", response_class=HTMLResponse, include_in_schema=False)
async def officer_workspace(request: Request, user: CurrentUser) -> HTMLResponse:
    return workspace_page(request, user)


@router.get("/declarant", response_class=HTMLResponse, include_in_schema=False)
async def declarant_workspace(request: Request, user: CurrentUser) -> HTMLResponse:
    return workspace_page(request, user)
