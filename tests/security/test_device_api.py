"""Device key API: admin role required; the secret is returned on creation and never again."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import psycopg
from cryptography.fernet import Fernet

from api.app import create_app
from sealwatch.config import Settings
from tests.helpers import count
from tests.login import auth


@asynccontextmanager
async def api(url: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=url, **settings))  # type: ignore[arg-type]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        yield client


async def test_admin_role_is_required(migrated_db: str) -> None:
    operator = auth(migrated_db, "operator", "operator")
    auditor = auth(migrated_db, "auditor", "auditor")
    async with api(migrated_db) as client:
        missing = await client.post("/api/devices/AZS-API001/keys")
        wrong = await client.post("/api/devices/AZS-API001/keys", headers={"Authorization": "Bearer nope"})
        basic = await client.get("/api/devices/AZS-API001/keys", headers={"Authorization": "Basic nope"})
        by_operator = await client.post("/api/devices/AZS-API001/keys", headers=operator)
        by_auditor = await client.get("/api/devices/AZS-API001/keys", headers=auditor)
    assert (missing.status_code, wrong.status_code, basic.status_code) == (401, 401, 401)
    assert (by_operator.status_code, by_auditor.status_code) == (403, 403)
    assert count(migrated_db, "SELECT count(*) FROM seal_keys") == 0


async def test_secret_only_on_creation_and_rotation_keeps_the_old_key_for_the_grace(migrated_db: str) -> None:
    fernet_key = Fernet.generate_key().decode()
    admin = auth(migrated_db)  # an admin session
    async with api(migrated_db, key_encryption_key=fernet_key) as client:
        first = await client.post("/api/devices/AZS-API001/keys", headers=admin)
        second = await client.post("/api/devices/AZS-API001/keys", headers=admin, json={"grace_s": 600})
        listing = await client.get("/api/devices/AZS-API001/keys", headers=admin)
        revoked = await client.delete(f"/api/devices/AZS-API001/keys/{first.json()['kid']}", headers=admin)
        after = await client.get("/api/devices/AZS-API001/keys", headers=admin)
        unknown = await client.get("/api/devices/AZS-NOKEYS/keys", headers=admin)
        bad_id = await client.post("/api/devices/a%20b/keys", headers=admin)

    assert first.status_code == second.status_code == 201
    secrets = [first.json()["secret"], second.json()["secret"]]
    raw = [base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)) for s in secrets]
    assert all(len(r) == 32 for r in raw) and raw[0] != raw[1]
    assert first.json()["previous_valid_until"] is None
    assert second.json()["previous_valid_until"] is not None

    assert listing.status_code == 200
    keys = listing.json()["keys"]
    assert [k["kid"] for k in keys] == [first.json()["kid"], second.json()["kid"]]
    assert [k["active"] for k in keys] == [True, True]  # the old key is in its grace period
    assert keys[0]["revoked_at"] == second.json()["previous_valid_until"]
    for response in (listing, revoked, after):
        assert "secret" not in response.text
        assert not any(s in response.text for s in secrets)
    assert revoked.status_code == 200 and revoked.json()["active"] is False
    assert [k["active"] for k in after.json()["keys"]] == [False, True]
    assert unknown.status_code == 404
    assert bad_id.status_code == 422

    # At rest the secret is Fernet-encrypted, not the bytes handed out.
    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute("SELECT secret, secret_enc FROM seal_keys ORDER BY created_at").fetchall()
    assert [r[1] for r in rows] == ["fernet", "fernet"]
    assert all(bytes(r[0]) != secret for r, secret in zip(rows, raw, strict=True))
    assert [Fernet(fernet_key.encode()).decrypt(bytes(r[0])) for r in rows] == raw
