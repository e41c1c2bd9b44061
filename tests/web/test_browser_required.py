"""Browser tests skip with a visible reason where Chromium is missing, but fail when it is required (CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
from tests.browser import *  # noqa: F403

async def test_needs_a_browser(chromium):
    assert chromium.is_connected()
"""


def run_probe(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    environ = {k: v for k, v in os.environ.items() if k != "SEALWATCH_REQUIRE_BROWSER"}
    environ.update(env, SEALWATCH_CHROMIUM=str(tmp_path / "no-such-chromium"), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            str(probe),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ,
        timeout=120,
    )


def test_a_missing_browser_is_a_visible_skip_locally(tmp_path: Path) -> None:
    result = run_probe(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "Chromium not found" in result.stdout


def test_a_missing_browser_fails_when_required(tmp_path: Path) -> None:
    result = run_probe(tmp_path, SEALWATCH_REQUIRE_BROWSER="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout or "1 failed" in result.stdout
    assert "SEALWATCH_REQUIRE_BROWSER=1 requires the browser tests to run" in result.stdout


def test_dev_test_requires_the_browser() -> None:
    dev = (ROOT / "dev").read_text()
    test_case = dev[dev.index("  test)") :]
    assert "export SEALWATCH_REQUIRE_BROWSER=1" in test_case[: test_case.index(";;")]
