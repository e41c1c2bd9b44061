"""The demo fleet: transits released through customs, then driven by the simulator in-process,
with a few mobile customs groups that report their position and answer dispatches.

Every simulated seal belongs to a real transit (declaration submitted, checked, risk-assessed
and released by ``customs.demo_fleet``). A truck released some time ago starts where it would
be by now, so the map is populated from the first second. A few seals get scripted faults so
the operations page shows every state.

The demo also creates (or resets) the control-room user ``operator``: its password is
``SEALWATCH_DEMO_PASSWORD`` when set, else a random one; either way the start-up summary shows it.
A run starts clean (``reset_demo_data``) unless told to keep the previous run's data.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import signal
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sealwatch.config import Settings
from sealwatch.logging import get_logger
from simulators.faults import Fault, FaultKind
from simulators.fleet import Fleet, run_fleet
from simulators.groups import default_groups, run_groups
from simulators.keys import provision_plans
from simulators.path import RoutePath
from simulators.plans import SealPlan

log = get_logger(__name__)

# (seal index, fault): staggered so something happens in each of the first minutes.
DEMO_FAULTS: tuple[tuple[int, Fault], ...] = (
    (2, Fault(FaultKind.DEVIATION, at_s=60)),
    (4, Fault(FaultKind.STOP, at_s=12 * 60, duration_s=30 * 60)),  # past the border-queue areas
    (6, Fault(FaultKind.OPENED, at_s=120)),
    (8, Fault(FaultKind.LOW_BATTERY, at_s=30, duration_s=120)),
    (10, Fault(FaultKind.SIGNAL_LOSS, at_s=150, duration_s=15 * 60)),
    (12, Fault(FaultKind.GPS_JUMP, at_s=180)),
    (14, Fault(FaultKind.TAMPER, at_s=240)),
)


DEMO_OPERATOR = "operator"

# What a demo run leaves behind: telemetry, judgements, alerts and the customs records of its
# transits. Reference data (offices, routes, zones, rules), users and the append-only audit log stay.
DEMO_DATA_TABLES: tuple[str, ...] = (
    "fixes",
    "observations",
    "seal_latest",
    "seal_seq_watermark",
    "history_seal_hourly",
    "ingest_unjudged",
    "dead_letters",
    "dead_letter_drops",
    "alert_events",
    "alert_outbox",
    "alert_stream",
    "alert_transit_state",
    "alerts",
    "mobile_groups",
    "transit_seals",
    "transits",
    "risk_assessments",
    "permit_usages",
    "permits",
    "declaration_status_history",
    "declaration_items",
    "declarations",
    "seal_keys",
    "seals",
)


class DemoResetRefusedError(RuntimeError):
    """The database holds more than a demo's data: a clean start would delete it."""


def reset_demo_data(database_url: str) -> int:
    """Empty the tables a demo run fills, so a new run shows only its own fleet; returns how many
    transits the previous run left. Refuses a database with declarations the demo did not lodge."""
    from psycopg import sql

    from store.db import connect

    with connect(database_url) as conn:
        foreign = conn.execute("SELECT count(*) AS n FROM declarations WHERE lrn NOT LIKE 'DEMO-%%'").fetchone()
        if foreign is not None and int(str(foreign["n"])):
            raise DemoResetRefusedError(
                f"the database holds {foreign['n']} declaration(s) the demo did not lodge; a clean demo start "
                "would delete them. Run `sealwatch demo --keep`, or give the demo a database of its own."
            )
        left = conn.execute("SELECT count(*) AS n FROM transits").fetchone()
        existing = {str(r["relname"]) for r in conn.execute("SELECT relname FROM pg_class WHERE relkind IN ('r', 'p')")}
        tables = [t for t in DEMO_DATA_TABLES if t in existing]
        conn.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(sql.SQL(", ").join(map(sql.Identifier, tables)))
        )
        conn.commit()
    n = int(str(left["n"])) if left is not None else 0
    log.info("previous demo data removed", transits=n)
    return n


def ensure_demo_operator(database_url: str, password: str | None = None) -> str:
    """Create the demo's operator user, or reset its password and enable it; returns the password."""
    from store.db import connect
    from store.users import Role, create_user, hash_password

    password = password or secrets.token_urlsafe(12)
    with connect(database_url) as conn:
        exists = conn.execute("SELECT 1 FROM users WHERE name = %s", (DEMO_OPERATOR,)).fetchone()
        conn.commit()
        if exists is None:
            create_user(conn, DEMO_OPERATOR, Role.OPERATOR, password)
        else:
            with conn.transaction():
                conn.execute(
                    """INSERT INTO user_credentials (name, password_hash) VALUES (%s, %s) ON CONFLICT (name)
                       DO UPDATE SET password_hash = excluded.password_hash, changed_at = now()""",
                    (DEMO_OPERATOR, hash_password(password)),
                )
                conn.execute("UPDATE users SET disabled = false WHERE name = %s AND disabled", (DEMO_OPERATOR,))
    log.info("demo operator ready", user=DEMO_OPERATOR)
    return password


def _lonlat(line: Any) -> tuple[tuple[float, float], ...]:
    return tuple((float(x), float(y)) for x, y, *_ in line["coordinates"])


def release_fleet(
    database_url: str,
    n: int,
    seed: int,
    faults: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> list[SealPlan]:
    """Release ``n`` transits through customs and plan one virtual seal per transit, each with its
    own signing key; ``progress(done, n)`` follows the releases."""
    from customs.demo_fleet import release_demo_fleet
    from store.db import connect

    with connect(database_url) as conn:
        released = release_demo_fleet(conn, n, seed, progress=progress)
        rows = conn.execute("SELECT seal_id, battery_pct FROM seals").fetchall()
        lines = conn.execute("SELECT transit_id, route_line FROM transits").fetchall()
    battery = {str(r["seal_id"]): float(str(r["battery_pct"])) for r in rows}
    # Each seal drives the line its transit was released with, whatever version of the route that is.
    route_line = {str(r["transit_id"]): _lonlat(r["route_line"]) for r in lines}
    now = datetime.now(UTC)
    plans = []
    for i, transit in enumerate(released):
        if transit.seal_id is None or transit.route_code is None:
            continue  # not monitored by a seal: nothing to simulate
        line = route_line[transit.transit_id]
        path = RoutePath.of_vertices(transit.route_code, list(line))
        speed = 60.0 + (i * 7919 % 30)
        driven = speed / 3.6 * max(0.0, (now - transit.released_at).total_seconds())
        plans.append(
            SealPlan(
                seal_id=transit.seal_id,
                route_code=transit.route_code,
                start_m=min(driven, 0.9 * path.length_m),
                speed_kmh=speed,
                battery_pct=battery[transit.seal_id],
                transit_id=transit.transit_id,
                route_line=line,
                seed=seed * 100_003 + i,
                faults=tuple(f for index, f in DEMO_FAULTS if faults and index == i),
            )
        )
    return provision_plans(database_url, plans)  # each seal signs with its own key


def run_fleet_until(
    settings: Settings,
    mqtt_url: str,
    plans: list[SealPlan],
    args: argparse.Namespace,
    children: dict[str, subprocess.Popen[bytes]],
) -> int:
    """Drive the fleet until Ctrl-C, ``--duration``, or a service process exits (its code)."""
    fleet = Fleet.from_plans(plans)

    async def main() -> int:
        stop = asyncio.Event()
        exit_code = 0
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def watch_children() -> None:
            nonlocal exit_code
            while not stop.is_set():
                for name, child in children.items():
                    code = child.poll()
                    if code is not None:
                        log.error("service process exited; stopping the demo", process=name, code=code)
                        exit_code = code or 1
                        stop.set()
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch_children())
        groups = asyncio.create_task(run_groups(default_groups(), mqtt_url, stop))
        try:
            stats = await run_fleet(fleet, mqtt_url, args.interval, stop, args.duration)
        finally:
            stop.set()
            await asyncio.gather(watcher, groups)
        log.info("demo fleet stopped", fixes=stats.fixes, messages=stats.messages)
        return exit_code

    return asyncio.run(main())
