"""``sealwatch user add``: users created from the command line can log in with the password given."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from psycopg.rows import dict_row

from store.users import verify_password


def sealwatch(url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", "user", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def stored(url: str, name: str) -> dict[str, object] | None:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT u.role, u.group_id, u.tin, c.password_hash FROM users u JOIN user_credentials c USING (name)"
            " WHERE name = %s",
            (name,),
        ).fetchone()


def test_user_add_with_password_from_stdin(migrated_db: str) -> None:
    done = sealwatch(migrated_db, "add", "mg-north", "--role", "mobile_group", "--group-id", "MG-N", "--new-group",
                     "--password-stdin",
                     stdin="a good long password\n")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "created user mg-north (mobile_group group MG-N)" in done.stdout and "password" not in done.stdout
    row = stored(migrated_db, "mg-north")
    assert row is not None and (row["role"], row["group_id"], row["tin"]) == ("mobile_group", "MG-N", None)
    assert verify_password(str(row["password_hash"]), "a good long password")
    assert not verify_password(str(row["password_hash"]), "another password")

    again = sealwatch(migrated_db, "add", "mg-north", "--role", "operator", "--password-stdin", stdin="x" * 12)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_user_add_generates_and_shows_a_password_and_checks_the_binding(migrated_db: str) -> None:
    done = sealwatch(migrated_db, "add", "importer", "--role", "declarant", "--tin", "1234567890", stdin="")
    assert done.returncode == 0, done.stderr
    password = done.stdout.split("password: ", 1)[1].strip()
    row = stored(migrated_db, "importer")
    assert row is not None and verify_password(str(row["password_hash"]), password)

    unbound = sealwatch(migrated_db, "add", "importer2", "--role", "declarant", "--password-stdin", stdin="x" * 12)
    assert unbound.returncode == 2 and "needs a tin" in unbound.stderr
    bad_role = sealwatch(migrated_db, "add", "x", "--role", "superuser")
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    assert stored(migrated_db, "importer2") is None
