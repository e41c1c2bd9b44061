"""What a new user meets first: the start-up summary, the progress bar, ``sealwatch user add``."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from launcher.progress import Progress
from launcher.servers import Mosquitto, free_port
from launcher.summary import mask_url, startup_summary


def test_urls_are_shown_without_their_passwords() -> None:
    assert (
        mask_url("postgresql://sw:s3cret@db.example:5432/sealwatch") == "postgresql://sw:***@db.example:5432/sealwatch"
    )
    assert mask_url("mqtt://ingest:p%40ss@127.0.0.1:1883") == "mqtt://ingest:***@127.0.0.1:1883"
    assert mask_url("mqtt://127.0.0.1:1883") == "mqtt://127.0.0.1:1883"
    block = startup_summary(
        title="sealwatch demo",
        map_url="http://127.0.0.1:8080/",
        user="operator",
        password="op-pass",
        database_url="postgresql://sw:s3cret@db/sealwatch",
        mqtt_url="mqtt://svc:hidden@broker:1883",
        stop="Ctrl-C",
    )
    assert "operator / op-pass" in block  # the operator's own login, in clear
    assert "s3cret" not in block and "hidden" not in block


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    now = [0.0]
    tty = _Tty()
    bar = Progress("seals released", stream=tty, clock=lambda: now[0])
    for done in range(0, 101):
        now[0] = done * 0.05
        bar.update(done, 100)
    bar.close()
    text = tty.getvalue()
    assert text.count("\r") > 10 and text.endswith("\n") and text.count("\n") == 1
    assert "[##############################] 100/100" in text

    now[0] = 0.0
    log = io.StringIO()
    lines = Progress("seals released", stream=log, every_s=5.0, clock=lambda: now[0])
    for done in range(0, 101):
        now[0] = done * 0.2  # 20 s in all: a line every 5 s, and the last
        lines.update(done, 100)
    lines.close()
    shown = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and 4 <= len(shown) <= 6
    assert shown[-1].startswith("  seals released: 100/100 (100%)")


def _user_add(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "launcher.cli", "user", "add", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, input="")


def test_user_add_says_what_to_set_without_a_database(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["XDG_RUNTIME_DIR"] = str(runtime)  # no demo state there
    result = _user_add(env, "alice", "--role", "auditor")
    assert result.returncode == 2
    assert "DATABASE_URL is not set and no sealwatch demo is running" in result.stderr
    assert "Traceback" not in result.stderr


def test_user_add_refuses_a_group_that_does_not_exist(migrated_db: str) -> None:
    with psycopg.connect(migrated_db) as conn:
        conn.execute("INSERT INTO mobile_groups VALUES ('MG-BAK', 'Baku', 40.4, 49.9, true, now())")
    env = {**os.environ, "DATABASE_URL": migrated_db}
    refused = _user_add(env, "officer-1", "--role", "mobile_group", "--group-id", "MG-1")
    assert refused.returncode == 2
    assert "mobile group 'MG-1' does not exist (known groups: MG-BAK)" in refused.stderr
    assert "Traceback" not in refused.stderr
    created = _user_add(env, "officer-2", "--role", "mobile_group", "--group-id", "MG-BAK")
    assert created.returncode == 0 and "created user officer-2 (mobile_group group MG-BAK)" in created.stdout
    later = _user_add(env, "officer-3", "--role", "mobile_group", "--group-id", "MG-NEW", "--new-group")
    assert later.returncode == 0, later.stderr
    with psycopg.connect(migrated_db) as conn:
        users = conn.execute("SELECT name FROM users WHERE role = 'mobile_group' ORDER BY name").fetchall()
    assert users == [("officer-2",), ("officer-3",)]


@pytest.mark.timeout(120)
def test_up_ends_its_start_up_with_the_summary(migrated_db: str, broker: Mosquitto, tmp_path: Path) -> None:
    port = free_port()
    mqtt_url = broker.url.replace("mqtt://", "mqtt://svc:broker-secret@")  # the test broker ignores logins
    env = {**os.environ, "DATABASE_URL": migrated_db, "MQTT_URL": mqtt_url, "SEALWATCH_DATA_DIR": str(tmp_path)}
    argv = [sys.executable, "-m", "launcher.cli", "up", "--port", str(port)]
    up = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        assert up.stderr is not None
        for line in up.stderr:
            seen.append(line)
            if line.startswith("  stop"):
                break
    finally:
        up.terminate()
        _, rest = up.communicate(timeout=60)
    text = "".join(seen)
    assert "sealwatch is up" in text and f"map          http://127.0.0.1:{port}/" in text
    assert "broker       mqtt://svc:***@127.0.0.1:" in text and "broker-secret" not in text + rest


def test_the_demo_state_is_only_kept_in_a_private_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from launcher.demo_state import DemoState, clear_state, running_demo, state_dir, write_state

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    state = DemoState(os.getpid(), "postgresql://u:p@db/sw", "mqtt://127.0.0.1:1883", "http://127.0.0.1:8080/")
    assert write_state(state) is not None and running_demo() == state
    clear_state(os.getpid())
    assert running_demo() is None
    state_dir().chmod(0o777)  # someone else could have planted a file here
    assert write_state(state) is None and running_demo() is None
