"""One query-parameter name per concept across history, exports, TRS and alerts; the older names
still work, marked deprecated."""

from __future__ import annotations

import httpx

from api.app import create_app
from sealwatch.config import Settings
from tests.history.conftest import SimDay

# The older names and what replaced them.
RENAMED = {"transit": "transit_id", "seal": "seal_id", "since": "start", "until": "end", "type": "alert_type"}


def test_every_current_parameter_uses_the_one_name_of_its_concept() -> None:
    schema = create_app(Settings(database_url="postgresql://unused/x")).openapi()
    checked = 0
    for path, item in schema["paths"].items():
        if not path.startswith(("/api/history", "/api/trs", "/api/alerts")):
            continue
        for operation in item.values():
            for param in operation.get("parameters", []):
                if param["in"] != "query":
                    continue
                checked += 1
                name = param["name"]
                if name in RENAMED:
                    assert param.get("deprecated") is True, f"{path} ?{name}: use {RENAMED[name]}"
                    names = {p["name"] for p in operation["parameters"]}
                    assert RENAMED[name] in names, f"{path} ?{name} has no {RENAMED[name]}"
                else:
                    assert not param.get("deprecated"), (path, name)
    assert checked > 30


async def test_old_names_still_select_the_same_rows(day: SimDay, client: httpx.AsyncClient) -> None:
    sim = day.transits[1]

    async def ids(**params: str) -> list[str]:
        resp = await client.get("/api/history/transits", params=params)
        assert resp.status_code == 200, resp.text
        return [t["transit_id"] for t in resp.json()["items"]]

    assert await ids(transit_id=sim.transit_id) == await ids(transit=sim.transit_id) == [sim.transit_id]
    assert await ids(seal_id=sim.seal_id) == await ids(seal=sim.seal_id) == [sim.transit_id]
    both = await client.get("/api/history/transits", params={"seal_id": sim.seal_id, "seal": "other"})
    assert both.status_code == 422
    new = await client.get("/api/history/export/tracks", params={"transit_id": sim.transit_id, "seal_id": "none"})
    old = await client.get("/api/history/export/tracks", params={"transit_id": sim.transit_id, "seal": "none"})
    assert new.text == old.text and new.text.count("\n") == 1  # header only: that seal was not on it
    stats_new = await client.get("/api/alerts/stats", params={"start": "2020-01-01T00:00:00Z"})
    stats_old = await client.get("/api/alerts/stats", params={"since": "2020-01-01T00:00:00Z"})
    assert stats_new.json() == stats_old.json() and stats_new.json()["start"] == "2020-01-01T00:00:00Z"
