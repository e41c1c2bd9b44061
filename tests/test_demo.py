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

from sealwatch.services import free_port


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp (mode 0700 for root): the embedded PostgreSQL runs as its own user.
    path = Path(tempfile.mkdtemp(prefix="sealwatch-demo-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _run_demo(data_dir: Path, seals: int, path_env: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MQTT_URL")}
    env.update(SEALWATCH_DATA_DIR=str(data_dir), PATH=path_env)
    argv = [sys.executable, "-m", "sealwatch.cli", "demo", "--no-browser", "--duration", "60"]
    argv += ["--seals", str(seals), "--interval", "0.5", "--port", str(port)]
    demo = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 50
        features: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(features) < seals:
            time.sleep(1)
            try:
                status, body = _get(f"{base}/api/seals")
            except OSError:
                continue  # not listening yet
            features = body["features"] if status == 200 else []  # type: ignore[assignment]
        assert len(features) == seals, "every demo seal should be on the map"
        status, health = _get(f"{base}/health")
        assert status == 200 and health["status"] == "ok", health
        with urllib.request.urlopen(f"{base}/", timeout=5) as page:
            assert b"seal-marker" in page.read()
    finally:
        demo.terminate()
        _, stderr = demo.communicate(timeout=60)
    assert demo.returncode == 0, stderr.decode()[-3000:]


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
