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

import pytest

from launcher.servers import free_port


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


def _run_demo(data_dir: Path, seals: int, path_env: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MQTT_URL")}
    env.update(SEALWATCH_DATA_DIR=str(data_dir), PATH=path_env, SEALWATCH_DEMO_PASSWORD=DEMO_PASSWORD)
    argv = [sys.executable, "-m", "launcher.cli", "demo", "--no-browser", "--duration", "60"]
    argv += ["--seals", str(seals), "--interval", "0.5", "--port", str(port)]
    demo = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 50
        features: list[dict[str, object]] = []
        token: str | None = None
        while time.monotonic() < deadline and len(features) < seals:
            time.sleep(1)
            try:
                if token is None:
                    token = _login(base, "operator", DEMO_PASSWORD)
                status, body = _get(f"{base}/api/seals", token)
            except OSError:
                continue  # not listening yet
            features = body["features"] if status == 200 else []  # type: ignore[assignment]
        assert len(features) == seals, "every demo seal should be on the map"
        assert _get(f"{base}/api/seals")[0] == 401  # the demo's map needs the printed login
        status, health = _get(f"{base}/health")
        assert status == 200 and health["status"] == "ok", health
        page_request = urllib.request.Request(f"{base}/", headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(page_request, timeout=5) as page:
            assert b"console-map.js" in page.read()
    finally:
        demo.terminate()
        _, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 0, stderr.decode()[-3000:]
    assert f"as 'operator' with password '{DEMO_PASSWORD}'" in stderr.decode()


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
