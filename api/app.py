"""Application factory: one FastAPI app with every router and the shared connection pool.

Every route is guarded by :func:`api.auth.authorize` (an app-wide dependency) following the role
matrix :data:`api.auth.ACCESS`; the app refuses to build when a route has no rule there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from api import (
    alerts_routes,
    auditor_pages,
    auth,
    console_api,
    console_routes,
    customs_routes,
    declarant_pages,
    device_routes,
    group_pages,
    group_routes,
    history_routes,
    officer_pages,
    pages,
    route_geometry_routes,
    route_pages,
    telemetry_routes,
    users_routes,
)
from api.deps import reset_actor
from api.security import SecurityHeadersMiddleware, csp_nonce, tile_origin
from maps.live import STATIC_DIR
from sealwatch import __version__
from sealwatch.config import Settings
from sealwatch.logging import get_logger
from store.db import database_url

log = get_logger(__name__)

ROUTERS = (
    telemetry_routes,
    customs_routes,
    route_geometry_routes,
    alerts_routes,
    group_routes,
    history_routes,
    device_routes,
    users_routes,
    pages,
    group_pages,
    auditor_pages,
    officer_pages,
    route_pages,
    declarant_pages,
    console_routes,
    console_api,
)
SWAGGER_URL = "/static/vendor/swagger-ui"


def _add_security(app: FastAPI) -> None:
    """Document the session token in the OpenAPI schema: every non-public operation needs it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        schema.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "token from POST /api/auth/login"},
            "cookie": {"type": "apiKey", "in": "cookie", "name": auth.COOKIE_NAME},
        }
        for method, path, route in auth.api_routes(app.routes):
            rule = auth.ACCESS.get((method, path))
            operation = schema["paths"].get(path, {}).get(method.lower())
            if not route.include_in_schema or rule is None or operation is None or rule.public:
                continue
            operation["security"] = [{"bearer": []}, {"cookie": []}]
            roles = ", ".join(sorted(r.value for r in rule.roles))
            operation["description"] = (operation.get("description") or "") + f"\n\nRoles: {roles}."
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", {"description": "no valid session token"})
            responses.setdefault("403", {"description": "the user's role may not call this"})
        # Every error of this API is {"detail": ...}: a message, a {code, message} object or, for
        # request validation, the list of errors. Document that envelope for every status an
        # operation does not list itself, and that handlers' own 422s carry a message or {code, message}.
        schemas = schema["components"].setdefault("schemas", {})
        schemas["ErrorDetail"] = {
            "type": "object",
            "properties": {"detail": {"description": "a message, a {code, message} object or a list of errors"}},
            "required": ["detail"],
        }
        validation = schemas.get("HTTPValidationError", {}).get("properties", {})
        if "detail" in validation:
            validation["detail"] = {"anyOf": [validation["detail"], {"type": "string"}, {"type": "object"}]}
        for path_item in schema["paths"].values():
            for operation in path_item.values():
                operation.setdefault("responses", {}).setdefault(
                    "default",
                    {
                        "description": "error",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
                    },
                )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _invalid_data(request: Request, exc: Exception) -> JSONResponse:
    """Data PostgreSQL cannot take (a NUL character in text, a number out of range) is the client's
    error, not the server's: 422 instead of a 500."""
    log.info("request data refused by the database", path=request.url.path, error=str(exc))
    return JSONResponse({"detail": f"invalid data: {exc}"}, status_code=422)


def create_app(settings: Settings) -> FastAPI:
    url = database_url(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=10,
            kwargs={"row_factory": dict_row},
            open=False,
            connection_class=AsyncConnection[DictRow],
            reset=reset_actor,
            # A connection is checked as it is handed out: after a database restart the pool holds
            # dead ones, and without the check each would fail one request.
            check=AsyncConnectionPool.check_connection,
        )
        await pool.open()
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(
        title="sealwatch",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(auth.authorize)],
        # Served below, behind authentication like every other route.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.add_exception_handler(auth.LoginRequiredError, auth.login_required_handler)
    app.add_exception_handler(auth.WrongWorkspaceError, pages.wrong_workspace_handler)
    app.add_exception_handler(psycopg.DataError, _invalid_data)
    for module in ROUTERS:
        app.include_router(module.router)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # Swagger UI's assets are vendored (npm swagger-ui-dist) and served here: /docs works offline.
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="sealwatch API",
            swagger_js_url=f"{SWAGGER_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_URL}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_URL}/favicon-32x32.png",
        )
        # Its one inline script (the start) runs under the page's CSP nonce.
        html = bytes(page.body).decode("utf-8").replace("<script>", f'<script nonce="{csp_nonce(request)}">')
        return HTMLResponse(html)

    _add_security(app)
    missing = auth.missing_rules(list(app.routes))
    if missing:
        raise RuntimeError(f"routes without an access rule in api.auth.ACCESS: {', '.join(missing)}")
    # Responses the console polls (units, alerts, GeoJSON) shrink several times over; streams are left alone.
    # Level 6: nearly the size of level 9 on JSON, in about half the time (a full 100,000-unit feed is ~15 MB).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    # Outermost: headers on every response, compressed or not, errors and static files included.
    origin = tile_origin(settings.tile_url)
    app.add_middleware(SecurityHeadersMiddleware, img_sources=(origin,) if origin else ())
    # The pages' Leaflet, plugins and own JS/CSS are served locally so they work offline.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
