"""Fixtures for the customs tests: the app over a migrated database, run inside its lifespan."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.customs_routes import risk_rng
from sealwatch.config import Settings
from tests.login import auth


@pytest.fixture
async def client(migrated_db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=migrated_db))
    app.dependency_overrides[risk_rng] = lambda: random.Random(1)  # no random selection with this seed
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers=auth(migrated_db)
        ) as c,
    ):
        yield c
