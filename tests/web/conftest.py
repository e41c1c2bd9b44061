"""Fixtures for the page tests: the app over a migrated database and one user per role."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from sealwatch.config import Settings
from tests.auth.conftest import ROLE_USERS, Users
from tests.login import ensure_user


@pytest.fixture
def users(migrated_db: str) -> Users:
    for role, (name, binding) in ROLE_USERS.items():
        ensure_user(migrated_db, name, role, **binding)
    return Users(migrated_db)


@pytest.fixture
async def client(migrated_db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=migrated_db, mqtt_url=None))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c,
    ):
        yield c
