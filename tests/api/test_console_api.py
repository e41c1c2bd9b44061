"""The console API over a real database: the units feed and its deltas, the transit card, the
alerts panel under a storm, /api/me, roles and compression."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from psycopg.rows import dict_row

from alerts.service import AlertService
from alerts.settings import AlertSettings
from api.app import create_app
from bench.console_fleet import seed_fleet
from maps.console_units import COMMIT_LAG_S, STATE_SQL, CountsCache, Cursor, thin
from maps.console_units import units as feed
from maps.seal_status import classify
from sealwatch.config import Settings
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.alerts.conftest import ON_ROUTE, insert_transit
from tests.login import auth

SILENT_AFTER_S = 4.0


def settings(url: str) -> Settings:
    return Settings(database_url=url, no_signal_after_s=SILENT_AFTER_S)


@pytest.fixture
async def client(migrated_db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(migrated_db))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://test",
            headers=auth(migrated_db, "op", "operator"),
        ) as c,
    ):
        yield c


def record(seal_id: str, seq: int, t: datetime, **kw: Any) -> FixRecord:
    return FixRecord(
        seal_id,
        seq,
        t,
        kw.get("lat", ON_ROUTE[0]),
        kw.get("lon", ON_ROUTE[1]),
        kw.get("speed", 60.0),
        90.0,
        9,
        0.9,
        kw.get("battery", 90.0),
        kw.get("state", "closed"),
        t,
    )


def store(url: str, seal_id: str, seq: int, t: datetime, **kw: Any) -> None:
    """A fix stored as ingest stores it (fixes, then seal_latest)."""
    store_all(url, [record(seal_id, seq, t, **kw)])


def store_all(url: str, records: list[FixRecord]) -> None:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        FixWriter(conn).write(records, [])


def age_everything(url: str, seconds: float = 60) -> None:
    """Make what the test wrote so far look written a while ago (beyond the feed's commit-lag margin)."""
    with psycopg.connect(url) as conn:
        delta = timedelta(seconds=seconds)
        conn.execute("UPDATE seal_latest SET updated_at = updated_at - %s", (delta,))
        conn.execute("UPDATE transit_seals SET assigned_at = assigned_at - %s", (delta,))
        conn.execute("UPDATE transits SET changed_at = changed_at - %s", (delta,))


def by_seal(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fields = answer["fields"]
    return {row[0]: dict(zip(fields, row, strict=True)) for row in answer["rows"]}


async def units(client: httpx.AsyncClient, cursor: str | None = None) -> dict[str, Any]:
    r = await client.get("/api/console/units", params={"cursor": cursor} if cursor else None)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_full_answer_then_only_what_changed(migrated_db: str, client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    a, b, c = (insert_transit(migrated_db, n) for n in (1, 2, 3))
    for i, tr in enumerate((a, b, c)):
        store(migrated_db, tr.seal_id, 1, now - timedelta(seconds=1), lon=47.0 + i)
    age_everything(migrated_db)

    first = await units(client)
    assert first["full"] is True and first["gone"] == []
    rows = by_seal(first)
    assert set(rows) == {a.seal_id, b.seal_id, c.seal_id}
    assert rows[a.seal_id]["transit_id"] == a.transit_id and rows[a.seal_id]["plate"] == "10-AA-100"
    assert rows[a.seal_id]["carrier"] == a.carrier and rows[a.seal_id]["route_code"] == "RBR-BAK"
    assert rows[b.seal_id]["lon"] == 48.0 and rows[b.seal_id]["state"] == "moving"
    assert rows[a.seal_id]["open_alerts"] == 0 and rows[a.seal_id]["worst_severity"] is None
    assert first["counts"] == {"moving": 3}

    quiet = await units(client, first["cursor"])
    assert quiet["full"] is False and quiet["rows"] == [] and quiet["gone"] == []
    assert quiet["counts"] == {"moving": 3}

    # A new fix after the cursor: that unit and no other.
    store(migrated_db, a.seal_id, 2, datetime.now(UTC), lon=47.5, battery=10.0)
    delta = await units(client, quiet["cursor"])
    assert list(by_seal(delta)) == [a.seal_id]
    assert by_seal(delta)[a.seal_id]["lon"] == 47.5 and by_seal(delta)[a.seal_id]["state"] == "low_battery"
    assert delta["counts"] == {"moving": 2, "low_battery": 1}

    # A transit released after the cursor joins, even before its first fix.
    d = insert_transit(migrated_db, 4)
    joined = await units(client, delta["cursor"])
    assert d.seal_id in by_seal(joined) and by_seal(joined)[d.seal_id]["lat"] is None
    assert b.seal_id not in by_seal(joined)

    # An unknown or garbled cursor is answered in full.
    assert (await units(client, "not-a-cursor"))["full"] is True


async def test_a_fix_committed_after_the_cursor_but_stamped_before_it_is_not_missed(
    migrated_db: str, client: httpx.AsyncClient
) -> None:
    tr = insert_transit(migrated_db, 1)
    store(migrated_db, tr.seal_id, 1, datetime.now(UTC) - timedelta(minutes=1))
    age_everything(migrated_db)
    first = await units(client)
    # An ingest transaction that began a second before the answer and committed after it.
    store(migrated_db, tr.seal_id, 2, datetime.now(UTC), lon=48.25)
    with psycopg.connect(migrated_db) as conn:
        cursor = Cursor.decode(first["cursor"])
        assert cursor is not None
        stamped = cursor.at - timedelta(seconds=COMMIT_LAG_S / 2)
        conn.execute("UPDATE seal_latest SET updated_at = %s WHERE seal_id = %s", (stamped, tr.seal_id))
    later = await units(client, first["cursor"])
    assert by_seal(later)[tr.seal_id]["lon"] == 48.25


async def test_a_fix_the_last_answer_already_held_is_not_sent_again(
    migrated_db: str, client: httpx.AsyncClient
) -> None:
    tr = insert_transit(migrated_db, 1)
    # A fix time ahead of the clock: the unit cannot go silent (4 s here) while the test runs.
    store(migrated_db, tr.seal_id, 1, datetime.now(UTC) + timedelta(minutes=5))
    age_everything(migrated_db)
    first = await units(client)
    cursor = Cursor.decode(first["cursor"])
    assert cursor is not None and cursor.xmin > 0
    with psycopg.connect(migrated_db) as conn:
        # Stamped inside the commit-lag margin before the cursor, by transaction `xid`.
        conn.execute(
            "UPDATE seal_latest SET updated_at = %s WHERE seal_id = %s",
            (cursor.at - timedelta(seconds=COMMIT_LAG_S / 2), tr.seal_id),
        )
        row = conn.execute("SELECT xmin::text::bigint FROM seal_latest WHERE seal_id = %s", (tr.seal_id,)).fetchone()
    assert row is not None
    xid = int(row[0])  # a new test database is in epoch 0: the 32-bit id is the 64-bit one
    # The previous answer's snapshot had seen every transaction below its xmin: such a fix was in it.
    held = Cursor(cursor.at, cursor.stream_id, xmin=xid + 1)
    assert (await units(client, held.encode()))["rows"] == []
    # A transaction at or above it may have committed after that answer: sent (again).
    maybe = Cursor(cursor.at, cursor.stream_id, xmin=xid)
    assert list(by_seal(await units(client, maybe.encode()))) == [tr.seal_id]
    # A cursor of the first format (no xmin) never skips.
    old = base64.urlsafe_b64encode(orjson.dumps([1, cursor.at.timestamp(), cursor.stream_id])).decode()
    assert list(by_seal(await units(client, old))) == [tr.seal_id]


async def test_a_seal_taken_off_an_active_transit_is_gone(migrated_db: str, client: httpx.AsyncClient) -> None:
    tr = insert_transit(migrated_db, 1)
    store(migrated_db, tr.seal_id, 1, datetime.now(UTC))
    age_everything(migrated_db)
    first = await units(client)
    with psycopg.connect(migrated_db) as conn:  # the transit stays active; its seal goes back to the inventory
        conn.execute("UPDATE transit_seals SET returned_at = now() WHERE transit_id = %s", (tr.transit_id,))
    later = await units(client, first["cursor"])
    assert later["gone"] == [tr.seal_id] and later["rows"] == []


async def test_a_seal_crossing_the_silence_threshold_appears_without_a_new_fix(
    migrated_db: str, client: httpx.AsyncClient
) -> None:
    fresh, long_silent = insert_transit(migrated_db, 1), insert_transit(migrated_db, 2)
    store(migrated_db, fresh.seal_id, 1, datetime.now(UTC))
    store(migrated_db, long_silent.seal_id, 1, datetime.now(UTC) - timedelta(minutes=5))
    age_everything(migrated_db)

    first = await units(client)
    assert by_seal(first)[fresh.seal_id]["state"] == "moving"
    assert by_seal(first)[long_silent.seal_id]["state"] == "silent"

    await asyncio.sleep(SILENT_AFTER_S + 0.5)
    later = await units(client, first["cursor"])
    # The fresh seal went silent meanwhile; the one silent all along did not change.
    assert list(by_seal(later)) == [fresh.seal_id]
    assert by_seal(later)[fresh.seal_id]["state"] == "silent"
    assert later["counts"] == {"silent": 2}


async def test_a_deadline_passing_makes_the_unit_overdue_in_the_delta(
    migrated_db: str, client: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    late = insert_transit(migrated_db, 1, released_at=now - timedelta(hours=1), deadline=now + timedelta(seconds=2))
    store(migrated_db, late.seal_id, 1, now + timedelta(seconds=3))  # keeps it from going silent
    age_everything(migrated_db)
    first = await units(client)
    assert by_seal(first)[late.seal_id]["state"] == "moving"
    await asyncio.sleep(2.5)
    later = await units(client, first["cursor"])
    assert by_seal(later)[late.seal_id]["state"] == "overdue"


async def test_a_closed_transit_is_gone(migrated_db: str, client: httpx.AsyncClient) -> None:
    stays, leaves = insert_transit(migrated_db, 1), insert_transit(migrated_db, 2)
    for tr in (stays, leaves):
        store(migrated_db, tr.seal_id, 1, datetime.now(UTC))
    age_everything(migrated_db)
    first = await units(client)
    assert len(first["rows"]) == 2

    with psycopg.connect(migrated_db) as conn:
        # Arrival is stamped with the fix's time, long before the cursor: the feed must not rely on it.
        conn.execute(
            "UPDATE transits SET status = 'arrived', arrived_at = now() - interval '1 hour' WHERE transit_id = %s",
            (leaves.transit_id,),
        )
    after_arrival = await units(client, first["cursor"])
    assert after_arrival["gone"] == [leaves.seal_id] and after_arrival["rows"] == []
    with psycopg.connect(migrated_db) as conn:
        conn.execute(
            "UPDATE transits SET status = 'closed', closed_at = now() - interval '1 hour' WHERE transit_id = %s",
            (leaves.transit_id,),
        )
        conn.execute("UPDATE transit_seals SET returned_at = now() WHERE transit_id = %s", (leaves.transit_id,))
    # A client whose cursor predates the arrival learns of it after the close too.
    closed = await units(client, first["cursor"])
    assert closed["gone"] == [leaves.seal_id] and closed["rows"] == []
    assert closed["counts"] == {"moving": 1}
    assert set(by_seal(await units(client))) == {stays.seal_id}


async def test_an_alert_change_updates_the_unit(migrated_db: str, client: httpx.AsyncClient) -> None:
    quiet, hit = insert_transit(migrated_db, 1), insert_transit(migrated_db, 2)
    for tr in (quiet, hit):
        store(migrated_db, tr.seal_id, 1, datetime.now(UTC))
    age_everything(migrated_db)
    first = await units(client)

    t = datetime.now(UTC)
    tampered = FixRecord(hit.seal_id, 2, t, *ON_ROUTE, 0.0, 90.0, 9, 0.9, 90.0, "tampered", t)
    async with AlertService(migrated_db, AlertSettings(), None) as service:
        [event] = await service.on_batch([tampered], [])
    assert event.type == "seal_tampered"
    delta = await units(client, first["cursor"])
    # seal_latest still says "closed" (the fix went to the alert engine only): the open alert decides.
    row = by_seal(delta)[hit.seal_id]
    assert list(by_seal(delta)) == [hit.seal_id]
    assert row["state"] == "tampered" and row["open_alerts"] == 1
    assert row["worst_severity"] == "critical" and row["alert_types"] == ["seal_tampered"]


async def test_state_in_sql_agrees_with_classify(migrated_db: str) -> None:
    s = Settings(no_signal_after_s=600, low_battery_pct=20, stopped_below_kmh=3)
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    sql = f"""SELECT {STATE_SQL} FROM
        (SELECT %(seal_state)s::text AS seal_state, %(t)s::timestamptz AS t, %(speed)s::real AS speed_kmh,
                %(battery)s::real AS battery_pct) sl,
        (SELECT %(types)s::text[] AS types) oa,
        (SELECT %(deadline)s::timestamptz AS deadline, %(now)s::timestamptz - interval '1 day' AS released_at) u"""
    alert_sets = [(), ("seal_tampered",), ("seal_opened",), ("route_deviation",), ("restricted_zone",),
                  ("signal_lost",), ("overdue",), ("unauthorized_stop",), ("low_battery",), ("gps_jump",),
                  ("signal_lost", "seal_opened"), ("low_battery", "unauthorized_stop")]  # fmt: skip
    checked = 0
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        for seal_state, age_s, speed, battery, types, deadline in itertools.product(
            ("closed", "opened", "tampered"),
            (5, 700),
            (None, 0.0, 50.0),
            (90.0, 10.0),
            alert_sets,
            (None, now - timedelta(hours=1), now + timedelta(hours=1)),
        ):
            t = now - timedelta(seconds=age_s)
            params = {"seal_state": seal_state, "t": t, "speed": speed, "battery": battery, "types": list(types),
                      "deadline": deadline, "now": now, "no_signal_s": 600.0, "low_battery": 20.0,
                      "stopped_below": 3.0}  # fmt: skip
            cur = await conn.execute(sql, params)
            row = await cur.fetchone()
            assert row is not None
            expected = classify(seal_state, t, speed, battery, now, s, types, deadline)
            assert row[0] == expected.value, params
            checked += 1
    assert checked == 3 * 2 * 3 * 2 * len(alert_sets) * 3


def test_thinning_keeps_both_ends_and_the_bound() -> None:
    points = [(float(i), 0.0) for i in range(1000)]
    thinned = thin(points, 50)
    assert len(thinned) == 50 and thinned[0] == points[0] and thinned[-1] == points[-1]
    assert thin(points[:10], 50) == points[:10]


async def test_transit_card(migrated_db: str, client: httpx.AsyncClient) -> None:
    tr = insert_transit(migrated_db, 7)
    now = datetime.now(UTC)
    # A fix every 15 s over the last 100 minutes.
    track = [
        record(tr.seal_id, i + 1, now - timedelta(seconds=15 * (400 - i)), lon=47.0 + i / 1000) for i in range(400)
    ]
    store_all(migrated_db, track)
    r = await client.get(f"/api/console/units/{tr.seal_id}")
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["transit_id"] == tr.transit_id and card["plate"] == "10-AA-100" and card["carrier"] == tr.carrier
    assert card["route_code"] == "RBR-BAK" and card["route_name"] and card["destination"] == "AZBAK"
    # The client's silence threshold is 4 s: a fix 15 s old is silent.
    assert card["origin"] == "AZRBR" and card["state"] == "silent" and 10 <= card["age_s"] < 30
    assert card["open_alerts"] == [] and card["links"]["playback"] == f"/transits/{tr.transit_id}/playback"
    coords = card["track"]["coordinates"]
    assert 100 < len(coords) <= 300 and coords[0][0] == 47.0 and coords[-1][0] == pytest.approx(47.399)
    assert (await client.get("/api/console/units/AZS-999999")).status_code == 404


async def _storm(url: str, n: int) -> dict[str, int]:
    """``n`` open signal_lost warnings (newest first in time) and one older critical seal_tampered."""
    seed_fleet(url, n + 2)
    with psycopg.connect(url) as conn:
        conn.execute("SET LOCAL session_replication_role = replica")  # seed data: not audited, fast
        conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, first_t, last_t, raised_at, updated_at)
               SELECT 'signal_lost', 'warning', t.transit_id, t.seal_id, now(), now(),
                      now() - make_interval(secs => row_number() OVER (ORDER BY t.transit_id)),
                      now()
               FROM transits t ORDER BY t.transit_id LIMIT %s""",
            (n,),
        )
        ids = conn.execute("""SELECT transit_id, seal_id FROM transits ORDER BY transit_id DESC LIMIT 2""").fetchall()
        critical = conn.execute(
            """INSERT INTO alerts (type, severity, transit_id, seal_id, first_t, last_t, raised_at, updated_at)
               VALUES ('seal_tampered', 'critical', %s, %s, now(), now(), now() - interval '1 day', now())
               RETURNING id""",
            ids[0],
        ).fetchone()
        acked = conn.execute(
            """INSERT INTO alerts (type, severity, status, transit_id, seal_id, first_t, last_t, raised_at, updated_at,
                   acknowledged_at, acknowledged_by)
               VALUES ('route_deviation', 'warning', 'acknowledged', %s, %s, now(), now(), now(), now(), now(), 'op')
               RETURNING id""",
            ids[1],
        ).fetchone()
    assert critical is not None and acked is not None
    return {"critical": int(critical[0]), "acknowledged": int(acked[0])}


async def test_alerts_panel_under_a_storm(migrated_db: str, client: httpx.AsyncClient) -> None:
    n = 10_000
    ids = await _storm(migrated_db, n)
    r = await client.get("/api/console/alerts", params={"state": "open"})
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["items"][0]["id"] == ids["critical"] and page["items"][0]["severity"] == "critical"
    assert len(page["items"]) == 50 and page["total"] == n + 1
    assert page["counts"] == {"signal_lost": n, "seal_tampered": 1}
    assert page["by_severity"] == {"critical": 1, "warning": n, "info": 0}
    assert [(g["type"], g["severity"], g["count"]) for g in page["groups"]] == [
        ("seal_tampered", "critical", 1),
        ("signal_lost", "warning", n),
    ]

    # Every unresolved alert ("all"), page by page: none repeated, none lost, in panel order.
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        r = await client.get("/api/console/alerts", params={"limit": 500, **({"cursor": cursor} if cursor else {})})
        body = r.json()
        seen.extend(body["items"])
        cursor = body["next"]
        if cursor is None:
            break
    assert len(seen) == len({a["id"] for a in seen}) == n + 2
    rank = {"critical": 2, "warning": 1, "info": 0}
    keys = [(rank[a["severity"]], a["raised_at"], a["id"]) for a in seen]
    assert keys == sorted(keys, reverse=True)
    assert seen[0]["id"] == ids["critical"]

    # Filters: the list narrows, the facets stay.
    crit = (await client.get("/api/console/alerts", params={"severity": "critical"})).json()
    assert [a["id"] for a in crit["items"]] == [ids["critical"]] and crit["total"] == 1
    assert crit["counts"]["signal_lost"] == n
    acked = (await client.get("/api/console/alerts", params={"state": "acknowledged"})).json()
    assert [a["id"] for a in acked["items"]] == [ids["acknowledged"]] and acked["counts"] == {"route_deviation": 1}
    typed = (await client.get("/api/console/alerts", params={"type": "signal_lost", "limit": 1})).json()
    assert typed["total"] == n and typed["items"][0]["type"] == "signal_lost" and typed["next"]
    assert (await client.get("/api/console/alerts", params={"cursor": "garbage"})).status_code == 422


async def test_units_feed_is_compressed(migrated_db: str, client: httpx.AsyncClient) -> None:
    seed_fleet(migrated_db, 200)
    r = await client.get("/api/console/units", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and len(r.json()["rows"]) == 200
    raw = len(r.content)  # decoded
    assert int(r.headers["content-length"]) * 3 < raw


@pytest.mark.parametrize(
    ("role", "offered", "not_offered"),
    [
        ("operator", {"acknowledge", "dispatch", "resolve", "suggest_groups"}, set()),
        ("auditor", {"view_history", "playback"}, {"acknowledge", "dispatch", "resolve", "on_scene"}),
        ("officer", {"close_transit"}, {"acknowledge", "dispatch", "resolve"}),
        ("admin", {"acknowledge", "dispatch", "resolve", "close_transit"}, set()),
    ],
)
async def test_me_offers_what_the_role_may_do(
    migrated_db: str, client: httpx.AsyncClient, role: str, offered: set[str], not_offered: set[str]
) -> None:
    r = await client.get("/api/me", headers=auth(migrated_db, f"u-{role}", role))
    assert r.status_code == 200
    me = r.json()
    assert me["name"] == f"u-{role}" and me["role"] == role and me["display_tz"] == "Asia/Baku"
    assert offered <= set(me["actions"]) and not (not_offered & set(me["actions"]))


@pytest.mark.parametrize("role", ["mobile_group", "declarant"])
async def test_console_api_refuses_other_roles(migrated_db: str, client: httpx.AsyncClient, role: str) -> None:
    binding = {"group_id": "G1"} if role == "mobile_group" else {"tin": "1234567890"}
    headers = auth(migrated_db, f"u-{role}", role, **binding)
    for path in ("/api/console/units", "/api/console/units/AZS-000001", "/api/console/alerts", "/api/me"):
        assert (await client.get(path, headers=headers)).status_code == 403, path
    assert (await client.get("/api/console/units", headers={"Authorization": "Bearer nope"})).status_code == 401


async def test_counts_are_reused_only_when_counting_is_slow(migrated_db: str) -> None:
    tr = insert_transit(migrated_db, 1)
    store(migrated_db, tr.seal_id, 1, datetime.now(UTC))
    s = settings(migrated_db)
    async with await psycopg.AsyncConnection.connect(migrated_db) as conn:
        fresh, slow = CountsCache(slow_s=60), CountsCache(slow_s=0, ttl_s=60)
        first = await units_answer(conn, s, fresh), await units_answer(conn, s, slow)
        assert first == ('{ "moving" : 1 }', '{ "moving" : 1 }')
        store(migrated_db, tr.seal_id, 2, datetime.now(UTC), battery=5.0)
        # Counting fast: every answer counts afresh. Counting "slow": the totals are reused within ttl_s.
        assert await units_answer(conn, s, fresh) == '{ "low_battery" : 1 }'
        assert await units_answer(conn, s, slow) == '{ "moving" : 1 }'


async def units_answer(conn: psycopg.AsyncConnection[Any], s: Settings, cache: CountsCache) -> str:
    now = datetime.now(UTC)
    answer = await feed(conn, s, Cursor(now - timedelta(seconds=1), 0), cache)
    return answer.counts_json
