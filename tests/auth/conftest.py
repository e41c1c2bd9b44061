"""Fixtures for the auth tests: the app over a migrated database, and one user per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from api.app import create_app
from sealwatch.config import Settings
from store.users import Role
from tests.login import ensure_user, token

# One user per role; the bound roles get a group and a TIN.
ROLE_USERS: dict[Role, tuple[str, dict[str, str]]] = {
    Role.OPERATOR: ("op", {}),
    Role.OFFICER: ("officer", {}),
    Role.MOBILE_GROUP: ("mg-g1", {"group_id": "G1"}),
    Role.AUDITOR: ("aud", {}),
    Role.DECLARANT: ("decl", {"tin": "1234567890"}),
    Role.ADMIN: ("adm", {}),
}


@dataclass
class Users:
    url: str

    def name(self, role: Role) -> str:
        return ROLE_USERS[role][0]

    def token(self, role: Role) -> str:
        name, binding = ROLE_USERS[role]
        return token(self.url, name, role, **binding)

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


@pytest.fixture
def users(migrated_db: str) -> Users:
    for role, (name, binding) in ROLE_USERS.items():
        ensure_user(migrated_db, name, role, **binding)
    return Users(migrated_db)


def app_settings(url: str, **kw: object) -> Settings:
    return Settings(database_url=url, mqtt_url=None, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def client(migrated_db: str) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client on the app (inside its lifespan)."""
    app = create_app(app_settings(migrated_db, metrics_token="scrape-me"))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c,
    ):
        yield c
