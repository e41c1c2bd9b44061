"""``sealwatch demo`` with nothing configured: private PostgreSQL and broker, fleet on the map."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from launcher.servers import Mosquitto, free_port


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp (mode 0700 for root): the embedded PostgreSQL runs as its own user.
    path = Path(tempfile.mkdtemp(prefix="sealwatch-demo-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


DEMO_PASSWORD = "demo-password-for-tests"


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _login(base: str, name: str, password: str) -> str:
    body = json.dumps({"username": name, "password": password}).encode()
    request = urllib.request.Request(
        f"{base}/api/auth/login", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        token = json.loads(response.read())["token"]
    assert isinstance(token, str)
    return token


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "launcher.cli", *args]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, input="")


def _demo_env(data_dir: Path, path_env: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MQTT_URL")}
    # A runtime directory platformdirs finds fault with (mode 0755): it would warn, the demo must not.
    runtime = data_dir / "run"
    runtime.mkdir(mode=0o755, exist_ok=True)
    env.update(
        SEALWATCH_DATA_DIR=str(data_dir),
        PATH=path_env,
        SEALWATCH_DEMO_PASSWORD=DEMO_PASSWORD,
        XDG_RUNTIME_DIR=str(runtime),
    )
    env.update(extra)
    return env


def _start_demo(
    env: dict[str, str], seals: int, port: int, duration: float = 60, *more: str
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "launcher.cli", "demo", "--no-browser", "--duration", str(duration)]
    argv += ["--seals", str(seals), "--interval", "0.5", "--port", str(port)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _seals_on_map(base: str, expected: int, within: float = 50) -> tuple[list[dict[str, object]], str]:
    deadline = time.monotonic() + within
    features: list[dict[str, object]] = []
    token: str | None = None
    while time.monotonic() < deadline and len(features) < expected:
        time.sleep(1)
        try:
            if token is None:
                token = _login(base, "operator", DEMO_PASSWORD)
            status, body = _get(f"{base}/api/seals", token)
        except OSError:
            continue  # not listening yet
        features = body["features"] if status == 200 else []  # type: ignore[assignment]
    assert token is not None, "the demo's map never answered"
    return features, token


def _stop(demo: subprocess.Popen[bytes]) -> str:
    demo.terminate()
    _, stderr = demo.communicate(timeout=60)
    text = stderr.decode()
    assert demo.returncode == 0, text[-3000:]
    return text


def _run_demo(data_dir: Path, seals: int, path_env: str) -> None:
    port = free_port()
    env = _demo_env(data_dir, path_env)
    demo = _start_demo(env, seals, port)
    base = f"http://127.0.0.1:{port}"
    try:
        features, token = _seals_on_map(base, seals)
        assert len(features) == seals, "every demo seal should be on the map"
        assert _get(f"{base}/api/seals")[0] == 401  # the demo's map needs the printed login
        status, health = _get(f"{base}/health")
        assert status == 200 and health["status"] == "ok", health
        page_request = urllib.request.Request(f"{base}/", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(page_request, timeout=5) as page:
            assert b"console-map.js" in page.read()
        # Without DATABASE_URL, `user add` finds the running demo; an unknown group is refused.
        added = _cli("user", "add", "alice", "--role", "auditor", env=env)
        assert added.returncode == 0 and "created user alice" in added.stdout, added.stderr
        assert "running demo" in added.stderr
        refused = _cli("user", "add", "mg-nobody", "--role", "mobile_group", "--group-id", "MG-1", env=env)
        assert refused.returncode == 2 and "mobile group 'MG-1' does not exist" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        stderr = _stop(demo)
    # The start-up ends with one block that holds what a new user needs.
    summary = stderr[stderr.index("sealwatch demo: ") :]
    assert f"map        {base}/" in summary
    assert f"login      operator / {DEMO_PASSWORD}" in summary
    assert "database   postgresql://" in summary and "broker     mqtt://" in summary
    assert "stop       Ctrl-C" in summary
    assert f"seals released: {seals}/{seals} (100%)" in stderr  # progress, as lines when not on a terminal
    assert "RuntimeDirWarning" not in stderr and "XDG_RUNTIME_DIR" not in stderr
    assert "declaration status" not in stderr and "seal key issued" not in stderr  # per-item lines are DEBUG
    gone = _cli("user", "add", "bob", "--role", "auditor", env=env)  # the demo has ended: say what to set
    assert gone.returncode == 2 and "DATABASE_URL is not set" in gone.stderr and "Traceback" not in gone.stderr


@pytest.mark.timeout(180)
def test_demo_runs_with_private_postgres_and_mosquitto(data_dir: Path) -> None:
    assert shutil.which("mosquitto"), "the test command installs mosquitto"
    _run_demo(data_dir, seals=6, path_env=os.environ["PATH"])
    assert (data_dir / "postgres" / "PG_VERSION").exists()
    assert (data_dir / "mosquitto").is_dir()


@pytest.mark.timeout(180)
def test_demo_falls_back_to_the_embedded_python_broker_without_mosquitto(data_dir: Path) -> None:
    # Only the directories of this Python: no mosquitto on PATH.
    _run_demo(data_dir, seals=4, path_env=str(Path(sys.executable).parent))
    assert not (data_dir / "mosquitto").exists()


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


@pytest.mark.timeout(240)
def test_a_second_demo_starts_clean(data_dir: Path, fresh_db: str, broker: Mosquitto) -> None:
    env = _demo_env(data_dir, os.environ["PATH"], DATABASE_URL=fresh_db, MQTT_URL=broker.url)
    port = free_port()
    first = _start_demo(env, 6, port)
    try:
        features, _ = _seals_on_map(f"http://127.0.0.1:{port}", 6)
        assert len(features) == 6
    finally:
        _stop(first)
    # The second run judges silence at once and soon: the first run's seals went silent.
    env.update(SEALWATCH_ALERTS_TIMERS_START_AFTER_S="0", SEALWATCH_ALERTS_SIGNAL_LOST_AFTER_S="2")
    port = free_port()
    second = _start_demo(env, 3, port, 60)
    try:
        features, _ = _seals_on_map(f"http://127.0.0.1:{port}", 3)
        time.sleep(8)  # a tick or two of the alert timers (every 5 s)
        features, _ = _seals_on_map(f"http://127.0.0.1:{port}", 3)
        shown = sorted(str(f["id"] if "id" in f else f["properties"]["seal_id"]) for f in features)  # type: ignore[index]
    finally:
        _stop(second)
    assert shown == ["AZS-00001", "AZS-00002", "AZS-00003"]
    assert _rows(fresh_db, "SELECT seal_id FROM transits ORDER BY seal_id") == [
        ("AZS-00001",),
        ("AZS-00002",),
        ("AZS-00003",),
    ]
    # No signal-lost alert (or any other) for the first run's seals.
    assert _rows(fresh_db, "SELECT seal_id, type FROM alerts WHERE seal_id > 'AZS-00003'") == []


@pytest.mark.timeout(120)
def test_a_demo_keeps_the_previous_run_only_when_asked(fresh_db: str) -> None:
    from launcher.demo import DemoResetRefusedError, release_fleet, reset_demo_data
    from store.migrate import migrate

    migrate(fresh_db, "native")
    release_fleet(fresh_db, 3, 7, faults=False)
    assert reset_demo_data(fresh_db) == 3
    assert _rows(fresh_db, "SELECT count(*) FROM transits") == [(0,)]
    assert _rows(fresh_db, "SELECT count(*) > 0 FROM routes") == [(True,)]  # reference data stays
    # A database with declarations the demo did not lodge is not emptied.
    release_fleet(fresh_db, 1, 7, faults=False)
    with psycopg.connect(fresh_db) as conn:
        conn.execute("UPDATE declarations SET lrn = 'REAL-LRN-1'")
    with pytest.raises(DemoResetRefusedError, match="did not lodge"):
        reset_demo_data(fresh_db)
    assert _rows(fresh_db, "SELECT count(*) FROM declarations") == [(1,)]
