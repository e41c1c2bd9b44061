"""Server errors schemathesis found, fixed: each must stay a client error or a success."""

from __future__ import annotations

import httpx

from store.users import Role
from tests.auth.conftest import Users


async def test_a_nul_character_in_text_is_a_422_not_a_500(client: httpx.AsyncClient, users: Users) -> None:
    r = await client.get("/api/zones", params={"kind": "a\x00b"}, headers=users.headers(Role.ADMIN))
    assert r.status_code == 422 and "NUL" in r.json()["detail"]
    # The connection went back to the pool healthy: the next request works.
    assert (await client.get("/api/zones", headers=users.headers(Role.ADMIN))).status_code == 200


async def test_an_export_for_a_non_ascii_transit_id_names_its_file_safely(
    client: httpx.AsyncClient, users: Users
) -> None:
    r = await client.get(
        "/api/history/export/transits", params={"transit_id": "𝐓R-1 x"}, headers=users.headers(Role.AUDITOR)
    )
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="sealwatch-transits-_R-1_x.csv"'


async def test_an_offset_postgresql_cannot_hold_is_normalised_before_a_streamed_export(
    client: httpx.AsyncClient, users: Users
) -> None:
    # +16:00 is valid ISO 8601 but beyond PostgreSQL's ±15:59: it failed mid-stream (a cut response).
    params = {"start": "1999-12-31T00:00:00+16:00", "end": "2000-01-01T00:00:00+16:00"}
    r = await client.get("/api/history/export/transits", params=params, headers=users.headers(Role.AUDITOR))
    assert r.status_code == 200
    assert r.text.splitlines()[0].startswith("transit_id")
    track = await client.get("/api/seals/AZS-00001/track", params=params, headers=users.headers(Role.OPERATOR))
    assert track.status_code in (200, 404)
