"""The command line: every sub-command answers --help; migrate is idempotent against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import count

COMMANDS = ["demo", "up", "ingest", "api", "simulate", "migrate", "user", "schema"]


def sealwatch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "launcher.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    done = sealwatch(command, "--help")
    assert done.returncode == 0, done.stderr
    assert f"usage: sealwatch {command}" in done.stdout


def test_top_level_help_lists_the_commands() -> None:
    done = sealwatch("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert command in done.stdout


def test_migrate_twice_applies_once(fresh_db: str) -> None:
    env = {**os.environ, "DATABASE_URL": fresh_db}
    first = sealwatch("migrate", env=env)
    assert first.returncode == 0, first.stderr
    applied = count(fresh_db, "SELECT count(*) FROM schema_migrations")
    assert applied >= 8 and f"{applied} migration(s) applied" in first.stdout
    second = sealwatch("migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert "0 migration(s) applied" in second.stdout
    assert count(fresh_db, "SELECT count(*) FROM schema_migrations") == applied
