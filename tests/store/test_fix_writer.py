"""FixWriter: idempotent COPY-based batches, forward-only latest state, dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.rows import dict_row

from ingest.decode import Reason, Reject
from sealwatch.fixes import FixRecord
from store.fixes import FixWriter

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def rec(seal: str, seq: int, minutes: float, lat: float = 40.0) -> FixRecord:
    return FixRecord(
        seal, seq, T0 + timedelta(minutes=minutes), lat, 49.0, 50.0, 10.0, 8, 1.1, 77.0, "closed", datetime.now(UTC)
    )


@pytest.fixture
def writer(migrated_db: str) -> FixWriter:
    conn = psycopg.connect(migrated_db, row_factory=dict_row)
    return FixWriter(conn)


def test_duplicates_are_skipped_within_and_across_batches(writer: FixWriter) -> None:
    first = writer.write([rec("AZS-000001", 1, 0), rec("AZS-000001", 2, 1), rec("AZS-000001", 2, 1)], [])
    second = writer.write([rec("AZS-000001", 2, 1), rec("AZS-000001", 3, 2)], [])
    assert (first.inserted, first.duplicates) == (2, 1)
    assert (second.inserted, second.duplicates) == (1, 1)
    row = writer.conn.execute("SELECT count(*) AS n FROM fixes").fetchone()
    assert row is not None and row["n"] == 3


def test_latest_state_never_moves_backward(writer: FixWriter) -> None:
    writer.write([rec("AZS-000001", 10, 10, lat=41.0), rec("AZS-000002", 1, 1)], [])
    writer.write([rec("AZS-000001", 5, 5, lat=39.0)], [])  # late fix, older than what we have
    writer.write([rec("AZS-000002", 2, 2, lat=42.0)], [])
    rows = {r["seal_id"]: r for r in writer.conn.execute("SELECT seal_id, seq, lat FROM seal_latest").fetchall()}
    assert (rows["AZS-000001"]["seq"], rows["AZS-000001"]["lat"]) == (10, 41.0)
    assert (rows["AZS-000002"]["seq"], rows["AZS-000002"]["lat"]) == (2, 42.0)


def test_fixes_spanning_midnight_land_in_their_day_partitions(writer: FixWriter) -> None:
    midnight = datetime(2026, 11, 23, tzinfo=UTC)
    records = [rec("AZS-000003", i, 0)._replace(t=midnight + timedelta(minutes=m)) for i, m in enumerate((-1, 1))]
    assert writer.write(records, []).inserted == 2
    parts = writer.conn.execute("SELECT DISTINCT tableoid::regclass::text AS p FROM fixes ORDER BY 1").fetchall()
    assert len(parts) == 2  # daily partitions, or TimescaleDB's daily chunks
    if writer.mode == "native":
        assert [p["p"] for p in parts] == ["fixes_p20261122", "fixes_p20261123"]


def test_dead_letters_are_written_in_the_same_transaction(writer: FixWriter) -> None:
    reject = Reject(Reason.MALFORMED_JSON, "bad", b"\x00\x01raw", "seals/AZS-000001/telemetry")
    result = writer.write([rec("AZS-000001", 1, 0)], [reject])
    assert result.dead_letters == 1
    row = writer.conn.execute("SELECT source, topic, payload, reason, detail FROM dead_letters").fetchone()
    assert row == {
        "source": "mqtt",
        "topic": "seals/AZS-000001/telemetry",
        "payload": b"\x00\x01raw",
        "reason": "malformed_json",
        "detail": "bad",
    }


def test_a_failed_batch_writes_nothing(writer: FixWriter) -> None:
    bad = rec("AZS-000001", 2, 1)._replace(seal_state="exploded")  # violates the CHECK constraint
    reject = Reject(Reason.MALFORMED_JSON, "bad", b"x", "t")
    with pytest.raises(psycopg.errors.CheckViolation):
        writer.write([rec("AZS-000001", 1, 0), bad], [reject])
    counts = writer.conn.execute(
        "SELECT (SELECT count(*) FROM fixes) AS f, (SELECT count(*) FROM dead_letters) AS d, "
        "(SELECT count(*) FROM seal_latest) AS l"
    ).fetchone()
    assert counts == {"f": 0, "d": 0, "l": 0}
