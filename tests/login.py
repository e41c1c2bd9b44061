"""Test users and sessions: create a user with a role straight in the database and get a token.

Tokens are issued directly (``store.users.create_session``) rather than through the login
endpoint, so the many API tests neither pay a password check per request nor trip the throttle.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from store.users import Role, create_session, create_user

PASSWORD = "correct horse battery staple"


def ensure_user(url: str, name: str, role: Role | str, *, group_id: str | None = None, tin: str | None = None) -> None:
    """Create the user (password :data:`PASSWORD`) unless it exists."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT role FROM users WHERE name = %s", (name,)).fetchone()
        if row is None:
            create_user(conn, name, role, PASSWORD, group_id=group_id, tin=tin)
        else:
            assert row["role"] == Role(role), f"test user {name} exists with role {row['role']}"


def token(url: str, name: str = "admin", role: Role | str = Role.ADMIN, **binding: str) -> str:
    """A fresh session token for ``name`` (created with ``role`` and its binding if needed)."""
    ensure_user(url, name, role, **binding)
    with psycopg.connect(url) as conn:
        return create_session(conn, name)


def auth(url: str, name: str = "admin", role: Role | str = Role.ADMIN, **binding: str) -> dict[str, str]:
    """``Authorization`` header of a fresh session of ``name``."""
    return {"Authorization": f"Bearer {token(url, name, role, **binding)}"}
