"""The audit log: every change recorded with its actor, append-only, and a hash chain that verify
checks — tampering as a superuser (triggers disabled) is found at the right entry."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from store import audit
from tests.history.conftest import SimDay


def _tamper(url: str, statement: str) -> None:
    """What a superuser could do: switch the append-only trigger off, change the log, switch it back on."""
    with psycopg.connect(url) as conn:
        conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
        conn.execute(statement)
        conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change")


def _cli_verify(url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", "audit", "verify"], env=env, capture_output=True, text=True, timeout=120
    )


def test_changes_are_recorded_with_actor_and_the_chain_verifies(day: SimDay) -> None:
    sim = day.transits[0]
    # Autocommit: each transaction() below is a real transaction, so its audit rows exist after it.
    with psycopg.connect(day.url, autocommit=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT DISTINCT table_name FROM audit_log")}
        assert {"declarations", "transits", "transit_seals", "seals"} <= tables
        with conn.transaction():
            audit.set_actor(conn, "officer:aliyev")
            conn.execute("UPDATE transits SET channel = 'red' WHERE transit_id = %s", (sim.transit_id,))
        last = conn.execute(
            "SELECT actor, table_name, op, row_key, old->>'channel', new->>'channel' FROM audit_log"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
        assert last is not None
        assert last[:4] == ("officer:aliyev", "transits", "UPDATE", {"transit_id": sim.transit_id})
        assert last[5] == "red" and last[4] != "red"
        # Without a named actor the database user is recorded; a no-op update is not a change.
        before = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        conn.execute("UPDATE transits SET channel = channel WHERE transit_id = %s", (sim.transit_id,))
        conn.execute("UPDATE seals SET battery_pct = 50 WHERE seal_id = %s", (sim.seal_id,))
        rows = conn.execute("SELECT actor, table_name FROM audit_log ORDER BY id DESC LIMIT 1").fetchall()
        after = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        assert before is not None and after is not None and after[0] == before[0] + 1
        assert rows == [("postgres", "seals")]
        # Append-only for everybody while the trigger is on (even the owner).
        for statement in ("UPDATE audit_log SET actor = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 1",
                          "TRUNCATE audit_log"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        result = audit.verify(conn)
        n = conn.execute("SELECT max(id) FROM audit_log").fetchone()
    assert result.ok and n is not None and result.checked == result.last_id == n[0]
    cli = _cli_verify(day.url)
    assert cli.returncode == 0 and "OK" in cli.stdout


def test_an_edited_entry_fails_verification_at_its_id(day: SimDay) -> None:
    _tamper(day.url, "UPDATE audit_log SET actor = 'somebody else' WHERE id = 5")
    with psycopg.connect(day.url) as conn:
        result = audit.verify(conn)
    assert not result.ok and result.bad_id == 5 and result.reason == "edited" and result.last_id == 4
    cli = _cli_verify(day.url)
    assert cli.returncode == 1 and "id 5" in cli.stdout and "edited" in cli.stdout


def test_an_edited_jsonb_value_is_found_too(day: SimDay) -> None:
    _tamper(day.url, "UPDATE audit_log SET new = jsonb_set(new, '{battery_pct}', '100') WHERE id = "
                     "(SELECT min(id) FROM audit_log WHERE table_name = 'seals')")  # fmt: skip
    with psycopg.connect(day.url) as conn:
        bad = conn.execute("SELECT min(id) FROM audit_log WHERE table_name = 'seals'").fetchone()
        result = audit.verify(conn)
    assert bad is not None and result.bad_id == bad[0] and result.reason == "edited"


def test_a_deleted_entry_fails_verification(day: SimDay) -> None:
    _tamper(day.url, "DELETE FROM audit_log WHERE id = 7")
    with psycopg.connect(day.url) as conn:
        result = audit.verify(conn)
    assert not result.ok and result.bad_id == 8 and result.reason == "deleted" and "7" in result.detail
    assert _cli_verify(day.url).returncode == 1


def test_deleting_the_newest_entries_is_found_by_the_chain_head(day: SimDay) -> None:
    _tamper(day.url, "DELETE FROM audit_log WHERE id > (SELECT max(id) - 2 FROM audit_log)")
    with psycopg.connect(day.url) as conn:
        head = conn.execute("SELECT last_id FROM audit_chain").fetchone()
        result = audit.verify(conn)
    assert head is not None and not result.ok and result.reason == "deleted"
    assert result.bad_id == head[0] - 1 and result.last_id == head[0] - 2


def test_reordered_or_relinked_entries(day: SimDay) -> None:
    with psycopg.connect(day.url) as conn:
        rows = conn.execute(audit._ROWS).fetchall()
    assert audit.check_chain(rows).ok
    # A repeated / backwards id is a reordering.
    swapped = audit.check_chain([rows[0], rows[1], rows[1], *rows[2:]])
    assert swapped.reason == "reordered" and swapped.bad_id == rows[1][0]
    # An entry re-hashed consistently but linked to an older entry's hash.
    r2 = list(rows[2])
    r2[8] = rows[0][9]
    r2[9] = audit.entry_hash(r2[8], audit.canonical(*r2[:8]))
    relinked = audit.check_chain([rows[0], rows[1], tuple(r2)])
    assert relinked.reason == "reordered" and relinked.bad_id == rows[2][0]
    forged = list(rows[2])
    forged[8] = "f" * 64
    forged[9] = audit.entry_hash(forged[8], audit.canonical(*forged[:8]))
    assert audit.check_chain([rows[0], rows[1], tuple(forged)]).reason == "broken link"
