"""Application factory: one FastAPI app with every router and the shared connection pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from api import alerts_routes, customs_routes, device_routes, history_routes, pages, telemetry_routes
from maps.live import STATIC_DIR
from sealwatch import __version__
from sealwatch.config import Settings
from store.db import database_url


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
        )
        await pool.open()
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="sealwatch", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    for module in (telemetry_routes, customs_routes, alerts_routes, history_routes, device_routes, pages):
        app.include_router(module.router)
    # The live map's Leaflet, plugins and own JS/CSS are served locally so the page works offline.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
