"""Telemetry API against a real migrated PostgreSQL: seal status, GeoJSON, tracks, dead letters,
health, metrics, and the offline live-map page with its static assets."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from api import telemetry_routes
from api.app import create_app
from launcher.servers import Mosquitto, free_port
from maps.seal_status import STATUS_COLORS, SealStatus, classify
from sealwatch.config import Settings
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.login import auth

NOW = datetime.now(UTC).replace(microsecond=0)
SETTINGS = Settings(no_signal_after_s=600, stopped_below_kmh=3, low_battery_pct=20)


# ---- classify: every branch and the precedence between them ----


@pytest.mark.parametrize(
    ("state", "age_s", "speed", "battery", "expected"),
    [
        ("closed", 10, 60.0, 90.0, SealStatus.MOVING),
        ("closed", 10, 3.0, 90.0, SealStatus.MOVING),  # threshold is "below"
        ("closed", 10, 2.9, 90.0, SealStatus.STOPPED),
        ("closed", 10, None, 90.0, SealStatus.STOPPED),
        ("closed", 10, 60.0, 19.9, SealStatus.LOW_BATTERY),
        ("closed", 10, 60.0, 20.0, SealStatus.MOVING),
        ("closed", 10, 0.0, 5.0, SealStatus.LOW_BATTERY),  # low battery outranks stopped
        ("closed", 600, 60.0, 90.0, SealStatus.MOVING),  # exactly at the limit still has signal
        ("closed", 601, 60.0, 90.0, SealStatus.SILENT),
        ("closed", 3600, 0.0, 5.0, SealStatus.SILENT),  # stale battery/speed do not count
        ("opened", 3600, 60.0, 5.0, SealStatus.OPENED),  # a breach outranks everything
        ("tampered", 3600, 0.0, 5.0, SealStatus.TAMPERED),
        ("opened", 10, 60.0, 90.0, SealStatus.OPENED),
    ],
)
def test_classify(state: str, age_s: float, speed: float | None, battery: float, expected: SealStatus) -> None:
    assert classify(state, NOW - timedelta(seconds=age_s), speed, battery, NOW, SETTINGS) == expected


def test_classify_follows_settings() -> None:
    strict = Settings(no_signal_after_s=5, stopped_below_kmh=80, low_battery_pct=95)
    t = NOW - timedelta(seconds=10)
    assert classify("closed", t, 60.0, 99.0, NOW, strict) == "silent"
    assert classify("closed", NOW, 60.0, 99.0, NOW, strict) == "stopped"
    assert classify("closed", NOW, 60.0, 90.0, NOW, strict) == "low_battery"


def test_every_status_has_a_distinct_color() -> None:
    assert set(STATUS_COLORS) == {s.value for s in SealStatus}
    assert len(set(STATUS_COLORS.values())) == len(SealStatus)


# ---- fixtures ----


def rec(
    seal: str,
    seq: int,
    t: datetime,
    *,
    lat: float = 40.4,
    lon: float = 49.8,
    speed: float | None = 60.0,
    battery: float = 80.0,
    state: str = "closed",
) -> FixRecord:
    return FixRecord(seal, seq, t, lat, lon, speed, 90.0, 9, 0.9, battery, state, datetime.now(UTC))


# The moving seal's history: one fix every 15 minutes for 8 hours, the newest being its latest fix.
TRACK = [
    rec("AZS-MOVING", 100 - i, NOW - timedelta(minutes=1 + 15 * i), lat=40.0 + i / 100, lon=47.0 + i / 100)
    for i in range(33)
]

# seal -> (expected status, latest fix)
SEALS: dict[str, tuple[str, FixRecord]] = {
    "AZS-MOVING": ("moving", TRACK[0]),
    "AZS-STOPPED": ("stopped", rec("AZS-STOPPED", 5, NOW - timedelta(minutes=2), speed=0.0)),
    "AZS-NOSPEED": ("stopped", rec("AZS-NOSPEED", 5, NOW - timedelta(minutes=2), speed=None)),
    "AZS-OPENED": ("opened", rec("AZS-OPENED", 5, NOW - timedelta(hours=3), battery=5.0, state="opened")),
    "AZS-TAMPER": ("tampered", rec("AZS-TAMPER", 5, NOW - timedelta(minutes=1), state="tampered")),
    "AZS-LOWBAT": ("low_battery", rec("AZS-LOWBAT", 5, NOW - timedelta(minutes=1), battery=12.5)),
    "AZS-SILENT": ("silent", rec("AZS-SILENT", 5, NOW - timedelta(hours=2), battery=5.0)),
}


def write_fixes(url: str, records: list[FixRecord]) -> None:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        writer = FixWriter(conn)
        writer.write(records, [])


@pytest.fixture
def seeded_db(migrated_db: str) -> str:
    # Out of order and in two batches, as ingest may store them.
    write_fixes(migrated_db, TRACK[::2])
    write_fixes(migrated_db, TRACK[1::2] + [latest for _, latest in SEALS.values() if latest.seal_id != "AZS-MOVING"])
    return migrated_db


@asynccontextmanager
async def api(database_url: str, mqtt_url: str | None = None, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=database_url, mqtt_url=mqtt_url, **settings))  # type: ignore[arg-type]
    headers = auth(database_url, "operator", "operator")  # the control center's role
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://testserver",
            headers=headers,
        ) as client,
    ):
        yield client


# ---- /api/seals ----


async def test_seals_geojson_has_every_seal_with_its_status(seeded_db: str) -> None:
    async with api(seeded_db) as client:
        resp = await client.get("/api/seals")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/geo+json")
    body = resp.json()
    assert body["type"] == "FeatureCollection"
    by_id = {f["properties"]["seal_id"]: f for f in body["features"]}
    assert set(by_id) == set(SEALS)
    for seal_id, (status, latest) in SEALS.items():
        feature = by_id[seal_id]
        assert feature["type"] == "Feature"
        assert feature["geometry"] == {"type": "Point", "coordinates": [latest.lon, latest.lat]}
        props = feature["properties"]
        assert props["status"] == status, seal_id
        assert props["color"] == STATUS_COLORS[status]
        assert props["seq"] == latest.seq
        assert datetime.fromisoformat(props["t"]) == latest.t
        assert props["battery_pct"] == latest.battery_pct
        assert props["speed_kmh"] == latest.speed_kmh
        assert props["seal_state"] == latest.seal_state
        assert props["heading_deg"] == latest.heading_deg


async def test_seals_status_filter(seeded_db: str) -> None:
    async with api(seeded_db) as client:
        stopped = (await client.get("/api/seals", params={"status": "stopped"})).json()
        opened = (await client.get("/api/seals", params={"status": "opened"})).json()
        bogus = await client.get("/api/seals", params={"status": "parked"})
    assert sorted(f["id"] for f in stopped["features"]) == ["AZS-NOSPEED", "AZS-STOPPED"]
    assert [f["id"] for f in opened["features"]] == ["AZS-OPENED"]
    assert bogus.status_code == 422


async def test_seals_empty_database_is_an_empty_collection(migrated_db: str) -> None:
    async with api(migrated_db) as client:
        resp = await client.get("/api/seals", params={"_": "1700000000000"})  # leaflet-realtime's cache buster
    assert resp.status_code == 200
    assert resp.json() == {"type": "FeatureCollection", "features": []}


async def test_one_seal_and_unknown_seal(seeded_db: str) -> None:
    async with api(seeded_db) as client:
        found = await client.get("/api/seals/AZS-LOWBAT")
        missing = await client.get("/api/seals/AZS-NOPE")
    assert found.status_code == 200
    feature = found.json()
    assert feature["type"] == "Feature"
    assert feature["properties"]["status"] == "low_battery"
    assert feature["properties"]["battery_pct"] == 12.5
    assert missing.status_code == 404


# ---- tracks ----


async def test_track_defaults_to_last_six_hours_in_time_order(seeded_db: str) -> None:
    async with api(seeded_db) as client:
        resp = await client.get("/api/seals/AZS-MOVING/track", params={"points": "true"})
    assert resp.status_code == 200
    line, *points = resp.json()["features"]
    expected = sorted((f for f in TRACK if f.t >= NOW - timedelta(hours=6)), key=lambda f: f.t)
    # Fixes every 15 min from 1 min ago: those within 6 h (24 of them, 346 min ago being the oldest).
    assert len(expected) == 24
    assert line["geometry"]["type"] == "LineString"
    assert line["geometry"]["coordinates"] == [[f.lon, f.lat] for f in expected]
    props = line["properties"]
    assert props["seal_id"] == "AZS-MOVING"
    assert props["points"] == 24
    assert props["truncated"] is False
    assert datetime.fromisoformat(props["first_t"]) == expected[0].t
    assert datetime.fromisoformat(props["last_t"]) == expected[-1].t
    assert [p["properties"]["seq"] for p in points] == [f.seq for f in expected]
    assert [datetime.fromisoformat(p["properties"]["t"]) for p in points] == [f.t for f in expected]


async def test_track_time_window_is_inclusive_and_filtered(seeded_db: str) -> None:
    start, end = NOW - timedelta(minutes=61), NOW - timedelta(minutes=16)  # exactly on fix times
    async with api(seeded_db) as client:
        resp = await client.get(
            "/api/seals/AZS-MOVING/track", params={"start": start.isoformat(), "end": end.isoformat()}
        )
        old = await client.get(
            "/api/seals/AZS-MOVING/track",
            params={"start": (NOW - timedelta(hours=9)).isoformat(), "end": (NOW - timedelta(hours=7)).isoformat()},
        )
    features = resp.json()["features"]
    assert len(features) == 1  # no point features unless asked
    props = features[0]["properties"]
    assert props["points"] == 4  # 61, 46, 31, 16 minutes ago
    assert datetime.fromisoformat(props["first_t"]) == start
    assert datetime.fromisoformat(props["last_t"]) == end
    assert datetime.fromisoformat(props["start"]) == start
    assert datetime.fromisoformat(props["end"]) == end
    # Between 9 and 7 hours ago: the fixes 421, 436, 451, 466 and 481 minutes ago (outside the default window).
    assert old.json()["features"][0]["properties"]["points"] == 5


async def test_track_with_fewer_than_two_fixes_has_no_line(seeded_db: str) -> None:
    async with api(seeded_db) as client:
        one = (await client.get("/api/seals/AZS-STOPPED/track")).json()["features"][0]
        none = (
            await client.get("/api/seals/AZS-STOPPED/track", params={"end": (NOW - timedelta(hours=1)).isoformat()})
        ).json()["features"][0]
    assert (one["geometry"], one["properties"]["points"]) == (None, 1)
    assert (none["geometry"], none["properties"]["points"], none["properties"]["first_t"]) == (None, 0, None)


async def test_track_is_capped_and_says_so(seeded_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry_routes, "TRACK_MAX_POINTS", 5)
    async with api(seeded_db) as client:
        capped = (await client.get("/api/seals/AZS-MOVING/track")).json()["features"][0]
        exact = (
            await client.get("/api/seals/AZS-MOVING/track", params={"start": (NOW - timedelta(minutes=61)).isoformat()})
        ).json()["features"][0]
    assert capped["properties"]["points"] == 5
    assert capped["properties"]["truncated"] is True
    # The oldest five of the window are kept, still in time order.
    times = [f.t for f in sorted(TRACK, key=lambda f: f.t) if f.t >= NOW - timedelta(hours=6)][:5]
    assert datetime.fromisoformat(capped["properties"]["last_t"]) == times[-1]
    assert exact["properties"]["points"] == 5
    assert exact["properties"]["truncated"] is False


async def test_track_rejects_bad_ranges_and_unknown_seals(seeded_db: str) -> None:
    t = NOW - timedelta(hours=1)
    async with api(seeded_db) as client:
        same = await client.get("/api/seals/AZS-MOVING/track", params={"start": t.isoformat(), "end": t.isoformat()})
        backwards = await client.get(
            "/api/seals/AZS-MOVING/track", params={"start": t.isoformat(), "end": (t - timedelta(1)).isoformat()}
        )
        too_long = await client.get(
            "/api/seals/AZS-MOVING/track",
            params={"start": (t - timedelta(days=31, seconds=1)).isoformat(), "end": t.isoformat()},
        )
        longest = await client.get(
            "/api/seals/AZS-MOVING/track", params={"start": (t - timedelta(days=31)).isoformat(), "end": t.isoformat()}
        )
        naive = await client.get("/api/seals/AZS-MOVING/track", params={"start": "2026-01-01T00:00:00"})
        unknown = await client.get("/api/seals/AZS-NOPE/track")
    assert same.status_code == backwards.status_code == too_long.status_code == naive.status_code == 422
    assert longest.status_code == 200
    assert unknown.status_code == 404


# ---- dead letters ----


async def test_dead_letters_newest_first_with_filter_and_limit(migrated_db: str) -> None:
    rows = [
        (NOW - timedelta(minutes=3), "mqtt", "seals/A/telemetry", b'{"v":9}', "unsupported_version", "v 9"),
        (NOW - timedelta(minutes=2), "mqtt", "seals/B/telemetry", b"\xff\xfeoops", "malformed_json", "not json"),
        (NOW - timedelta(minutes=1), "http", None, b"{}", "invalid_payload", "missing seq"),
    ]
    with psycopg.connect(migrated_db) as conn:
        conn.cursor().executemany(
            "INSERT INTO dead_letters (received_at, source, topic, payload, reason, detail) VALUES (%s,%s,%s,%s,%s,%s)",
            rows,
        )
    async with api(migrated_db) as client:
        everything = (await client.get("/api/dead-letters")).json()
        limited = (await client.get("/api/dead-letters", params={"limit": 2})).json()
        malformed = (await client.get("/api/dead-letters", params={"reason": "malformed_json"})).json()
        too_many = await client.get("/api/dead-letters", params={"limit": 1001})
        too_few = await client.get("/api/dead-letters", params={"limit": 0})
    assert [d["reason"] for d in everything] == ["invalid_payload", "malformed_json", "unsupported_version"]
    assert [d["reason"] for d in limited] == ["invalid_payload", "malformed_json"]
    assert len(malformed) == 1
    dead = malformed[0]
    assert dead["payload"] == "\ufffd\ufffdoops"
    assert (dead["source"], dead["topic"], dead["detail"]) == ("mqtt", "seals/B/telemetry", "not json")
    assert datetime.fromisoformat(dead["received_at"]) == rows[1][0]
    assert isinstance(dead["id"], int)
    assert everything[0]["topic"] is None
    assert too_many.status_code == too_few.status_code == 422


# ---- health ----


async def test_health_ok_with_database_and_broker(migrated_db: str, broker: Mosquitto) -> None:
    async with api(migrated_db, broker.url) as client:
        resp = await client.get("/health")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"] == {
        "ok": True,
        "target": f"127.0.0.1:{broker.port}",
        "latency_ms": body["broker"]["latency_ms"],
        "error": None,
    }


async def test_health_503_when_broker_is_down_or_unconfigured(migrated_db: str) -> None:
    closed = free_port()
    async with api(migrated_db, f"mqtt://127.0.0.1:{closed}") as client:
        down = await client.get("/health")
    async with api(migrated_db, None) as client:
        unset = await client.get("/health")
    assert down.status_code == unset.status_code == 503
    body = down.json()
    assert body["status"] == "degraded"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is False
    assert body["broker"]["target"] == f"127.0.0.1:{closed}"
    assert "refused" in body["broker"]["error"].lower() or "connect" in body["broker"]["error"].lower()
    assert unset.json()["broker"]["ok"] is False
    assert "not configured" in unset.json()["broker"]["error"]


async def test_health_503_when_database_is_gone(migrated_db: str, broker: Mosquitto, pg_admin_url: str) -> None:
    async with api(migrated_db, broker.url) as client:
        dbname = psycopg.conninfo.conninfo_to_dict(migrated_db)["dbname"]
        with psycopg.connect(pg_admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{dbname}" WITH (FORCE)')
        resp = await client.get("/health")
    assert resp.status_code == 503
    body = resp.json()
    assert body["database"]["ok"] is False
    assert body["database"]["error"]
    assert body["broker"]["ok"] is True


# ---- metrics ----


async def test_metrics_names_the_ingest_metrics(migrated_db: str) -> None:
    async with api(migrated_db) as client:
        resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert "sealwatch_fixes_stored_total" in resp.text
    assert "sealwatch_batch_commit_seconds_bucket" in resp.text


@pytest.fixture
def multiproc_dir(tmp_path: Path) -> Path:
    """A PROMETHEUS_MULTIPROC_DIR in which another process (as ingest would) stored 7 fixes."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    code = "from ingest.metrics import FIXES_STORED; FIXES_STORED.inc(7)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=Path(__file__).resolve().parents[2])
    return tmp_path


async def test_metrics_aggregate_other_processes(
    migrated_db: str, multiproc_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(multiproc_dir))
    async with api(migrated_db) as client:
        resp = await client.get("/metrics")
    assert resp.status_code == 200
    assert "sealwatch_fixes_stored_total 7.0" in resp.text


# ---- the live map page ----


class AssetLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


async def test_live_map_page_is_offline_and_its_assets_are_served(migrated_db: str) -> None:
    async with api(migrated_db) as client:
        page = await client.get("/")
        parser = AssetLinks()
        parser.feed(page.text)
        assets = {url: await client.get(url) for url in parser.urls}
        # leaflet.css draws the layer control with images relative to itself.
        layers_png = await client.get("/static/vendor/leaflet/images/layers.png")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # No inline script to allow under a content security policy: the page's data is a JSON block.
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text)
    assert inline == [' type="application/json" id="sw-config"']
    assert parser.urls, "the page links no scripts or stylesheets"
    remote = [u for u in parser.urls if u.startswith(("http://", "https://", "//"))]
    assert remote == []
    assert all(u.startswith("/static/") for u in parser.urls)
    assert {u.rsplit("/", 1)[-1] for u in parser.urls} >= {
        "leaflet.js",
        "leaflet.css",
        "basemap.js",
        "console.js",
        "console-map.js",
        "console.css",
    }
    for url, resp in assets.items():
        assert resp.status_code == 200, url
        assert len(resp.content) > 100, url
    assert layers_png.status_code == 200
    assert layers_png.headers["content-type"] == "image/png"
    config = json.loads(page.text.split('id="sw-config">', 1)[1].split("</script>", 1)[0])
    assert config["pollMs"] == 3000
    assert config["states"][0] == "tampered" and config["states"][-1] == "moving"
    assert "Red Bridge – Baku (M2)" in {r["name"] for r in config["routes"]}
    assert "Red Bridge (Georgian border)" in {p["name"] for p in config["places"]}
    assert {p["kind"] for p in config["places"]} == {"customs_office", "border_checkpoint"}
    assert config["tiles"] is None  # no tile_url: the vector basemap only
    html = page.text
    assert "L.tileLayer" not in html  # no tile_url: the vector basemap only


async def test_live_map_uses_configured_tiles(migrated_db: str) -> None:
    tiles = "http://tiles.internal/{z}/{x}/{y}.png"
    async with api(migrated_db, tile_url=tiles, tile_attribution="Internal tiles") as client:
        html = (await client.get("/")).text
    config = json.loads(html.split('id="sw-config">', 1)[1].split("</script>", 1)[0])
    assert config["tiles"] == {"url": tiles, "attribution": "Internal tiles"}
    assert tiles in html
    assert "Internal tiles" in html
