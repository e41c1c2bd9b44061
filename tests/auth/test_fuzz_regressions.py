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


EXTREME_TIMES = ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"]
TIME_QUERIES = [
    ("/api/history/transits", Role.AUDITOR),
    ("/api/history/aggregates", Role.AUDITOR),
    ("/api/history/export/transits", Role.AUDITOR),
    ("/api/alerts/stats", Role.OPERATOR),
    ("/api/seals/AZS-00001/track", Role.OPERATOR),
]


async def test_a_time_whose_utc_instant_is_outside_years_1_to_9999_is_a_422_with_its_reason(
    client: httpx.AsyncClient, users: Users
) -> None:
    for path, role in TIME_QUERIES:
        for param in ("start", "end"):
            for extreme in EXTREME_TIMES:
                r = await client.get(path, params={param: extreme}, headers=users.headers(role))
                assert r.status_code == 422, (path, param, extreme, r.text)
                [error] = r.json()["detail"]
                assert error["loc"] == ["query", param], (path, error)
                assert "outside the range of dates in UTC" in error["msg"], (path, error)
    for extreme in EXTREME_TIMES:
        body = {"lat": 40.4, "lon": 49.8, "t": extreme}
        r = await client.post("/api/group/position", json=body, headers=users.headers(Role.MOBILE_GROUP))
        assert r.status_code == 422 and "outside the range of dates in UTC" in r.text, r.text
    # The next ordinary request is served.
    r = await client.get("/api/alerts/stats", headers=users.headers(Role.OPERATOR))
    assert r.status_code == 200
