"""How long ``sealwatch demo --seals N`` takes from the command to the map being ready.

Run: ``python -m bench.demo_start --seals 10000``. By default it starts the demo as a new user
would, with nothing configured (private PostgreSQL and broker in a fresh data directory);
``--server postgresql://...`` runs it on a fresh database of that server and the broker at
``--mqtt`` instead. Prints the wall time to the start-up summary, the time the summary itself
reports ("ready in"), and the release progress lines. Floor: 10,000 seals ready in under 60 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from launcher.servers import free_port

READY = re.compile(r"sealwatch demo: (\d+) seals, ready in ([\d.]+) s")


def _fresh_database(server: str) -> tuple[str, str]:
    name = f"sw_bench_demo_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, psycopg.conninfo.make_conninfo(server, dbname=name)


def _drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def run(seals: int, server: str | None, mqtt: str) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="sealwatch-bench-demo-"))
    data_dir.chmod(0o755)  # the embedded PostgreSQL runs as its own user when started by root
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MQTT_URL")}
    env["SEALWATCH_DATA_DIR"] = str(data_dir)
    name = None
    if server:
        name, env["DATABASE_URL"] = _fresh_database(server)
        env["MQTT_URL"] = mqtt
    argv = [sys.executable, "-m", "launcher.cli", "demo", "--no-browser", "--no-faults"]
    argv += ["--seals", str(seals), "--duration", "1", "--port", str(free_port())]
    started = time.monotonic()
    wall: float | None = None
    lines: list[str] = []
    try:
        with subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) as demo:
            assert demo.stderr is not None
            for line in demo.stderr:
                lines.append(line)
                if wall is None and READY.search(line):
                    wall = time.monotonic() - started
            code = demo.wait()
    finally:
        if server and name:
            _drop_database(server, name)
        shutil.rmtree(data_dir, ignore_errors=True)
    reported = next((m for m in map(READY.search, lines) if m), None)
    print(f"sealwatch demo --seals {seals} ({'fresh database on ' + server if server else 'private servers'})")
    for line in lines:
        if "seals released:" in line:
            print(line.rstrip())
    if reported is None or wall is None:
        print(f"no start-up summary (exit code {code}); last lines:\n{''.join(lines[-20:])}")
        return 1
    print(f"map ready: {wall:.1f} s wall clock (summary says {reported.group(2)} s for {reported.group(1)} seals)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seals", type=int, default=10_000)
    parser.add_argument("--server", help="PostgreSQL admin URL: run on a fresh database there (default: private)")
    parser.add_argument("--mqtt", default="mqtt://127.0.0.1:1883", help="broker with --server")
    args = parser.parse_args()
    return run(args.seals, args.server, args.mqtt)


if __name__ == "__main__":
    raise SystemExit(main())
