"""Time Release Study figures against values computed by hand on a fixture."""

from __future__ import annotations

from datetime import timedelta

import httpx
import psycopg

from tests.history.conftest import SimDay


def _obs(conn: psycopg.Connection, sim, kind: str, minutes: float, zone: str = "") -> None:
    conn.execute(
        "INSERT INTO observations (seal_id, transit_id, kind, t, lat, lon, zone_code)"
        " VALUES (%s, %s, %s, %s, 41, 45, %s)",
        (sim.seal_id, sim.transit_id, kind, sim.released_at + timedelta(minutes=minutes), zone),
    )


async def test_trs_per_transit_and_distributions(day: SimDay, client: httpx.AsyncClient) -> None:
    a, b, c, d = day.transits
    with psycopg.connect(day.url) as conn:
        with conn.transaction():
            conn.execute(
                "UPDATE transits SET channel = 'green' WHERE transit_id = ANY(%s)", ([a.transit_id, b.transit_id],)
            )
            conn.execute(
                "UPDATE transits SET channel = 'red' WHERE transit_id = ANY(%s)", ([c.transit_id, d.transit_id],)
            )
            conn.execute(
                "UPDATE transits SET deadline = released_at + interval '5 hours' WHERE transit_id = ANY(%s)",
                ([a.transit_id, b.transit_id, c.transit_id, d.transit_id],),
            )
        # a: border 10 + 5 min (two visits), zone AZGNJ 20 min, arrival after 4 h (within the 5 h limit).
        for kind, m in (
            ("checkpoint_enter", 2),
            ("checkpoint_exit", 12),
            ("checkpoint_enter", 30),
            ("checkpoint_exit", 35),
        ):
            _obs(conn, a, kind, m, "AZRBR")
        for kind, m in (("zone_enter", 2), ("zone_exit", 12), ("zone_enter", 30), ("zone_exit", 35)):
            _obs(conn, a, kind, m, "AZRBR")
        _obs(conn, a, "zone_enter", 100, "AZGNJ")
        _obs(conn, a, "zone_exit", 120, "AZGNJ")
        _obs(conn, a, "arrival", 240)
        # b: border 30 min, arrival after 6 h: late.
        _obs(conn, b, "checkpoint_enter", 0, "AZRBR")
        _obs(conn, b, "checkpoint_exit", 30, "AZRBR")
        _obs(conn, b, "arrival", 360)
        # c: border 60 min, still inside a second time (no exit: not counted); arrives after 3 h.
        _obs(conn, c, "checkpoint_enter", 0, "AZAST")
        _obs(conn, c, "checkpoint_exit", 60, "AZAST")
        _obs(conn, c, "checkpoint_enter", 90, "AZAST")
        _obs(conn, c, "arrival", 180)
        # d: nothing observed yet.
        conn.commit()

    one = (await client.get(f"/api/trs/transits/{a.transit_id}")).json()
    assert one["border_control_s"] == 15 * 60
    assert one["transit_time_s"] == 4 * 3600 and one["time_limit_s"] == 5 * 3600 and one["within_limit"] is True
    zones = {z["zone_code"]: z for z in one["zones"]}
    assert zones["AZRBR"]["seconds"] == 15 * 60 and zones["AZRBR"]["visits"] == 2
    assert zones["AZGNJ"]["seconds"] == 20 * 60 and zones["AZGNJ"]["zone_kind"] == "customs_office"
    late = (await client.get(f"/api/trs/transits/{b.transit_id}")).json()
    assert late["within_limit"] is False and late["border_control_s"] == 30 * 60
    c_row = (await client.get(f"/api/trs/transits/{c.transit_id}")).json()
    assert c_row["border_control_s"] == 60 * 60
    d_row = (await client.get(f"/api/trs/transits/{d.transit_id}")).json()
    assert d_row["transit_time_s"] is None and d_row["border_control_s"] is None and d_row["within_limit"] is None
    assert (await client.get("/api/trs/transits/NOPE")).status_code == 404

    summary = (await client.get("/api/trs", params={"transits": "true"})).json()
    overall = summary["overall"]
    assert overall["transits"] == 4 and overall["arrived"] == 3 and overall["late"] == 1
    # transit times 4, 6, 3 h: median 4 h; p90 = 4 + 0.8 * (6 - 4) = 5.6 h (linear interpolation).
    assert overall["transit_time_s_median"] == 4 * 3600
    assert abs(overall["transit_time_s_p90"] - 5.6 * 3600) < 1e-6
    # border times 15, 30, 60 min: median 30; p90 = 30 + 0.8 * 30 = 54 min.
    assert overall["border_control_s_median"] == 30 * 60 and abs(overall["border_control_s_p90"] - 54 * 60) < 1e-6
    channels = {r["key"]: r for r in summary["by_channel"]}
    assert channels["green"]["transit_time_s_median"] == 5 * 3600  # (4 + 6) / 2
    assert channels["red"]["transit_time_s_median"] == 3 * 3600 and channels["red"]["arrived"] == 1
    routes = {r["key"]: r["transits"] for r in summary["by_route"]}
    assert sum(routes.values()) == 4
    assert len(summary["transits"]) == 4

    only_red = (await client.get("/api/trs", params={"channel": "red"})).json()
    assert only_red["overall"]["transits"] == 2

    png = await client.get("/api/trs/chart.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n") and len(png.content) > 10_000
