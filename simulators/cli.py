"""``sealwatch simulate``: drive a fleet of virtual seals over MQTT, with injectable faults."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from sealwatch.config import Settings
from sealwatch.geography import ROUTES
from sealwatch.logging import get_logger
from simulators.clock import SimClock
from simulators.faults import FaultKind, parse_fault
from simulators.fleet import Fleet, run_fleet
from simulators.plans import default_plans, with_faults

log = get_logger(__name__)

FAULT_HELP = (
    "inject a fault: KIND:SEAL[@MINUTES][/DURATION_MIN][=MAGNITUDE], SEAL a seal id or #index, "
    f"KIND one of {', '.join(k.value for k in FaultKind)}; MINUTES of simulated time after the start "
    "(default 10); MAGNITUDE metres for deviation and gps_jump, percent for low_battery. Repeatable."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seals", type=int, default=20, help="number of virtual seals (default 20)")
    parser.add_argument("--interval", type=float, default=2.0, help="wall seconds between fixes per seal (default 2)")
    parser.add_argument(
        "--speedup", type=float, default=1.0, help="simulated time runs this much faster until caught up"
    )
    parser.add_argument(
        "--start-ago", type=float, default=0.0, metavar="MINUTES", help="start the simulated clock this far in the past"
    )
    parser.add_argument("--routes", help=f"comma-separated route codes (default all: {', '.join(sorted(ROUTES))})")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--duration", type=float, help="stop after this many wall seconds")
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC", help=FAULT_HELP)
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument(
        "--provision-keys",
        action="store_true",
        help="create a signing key for every simulated seal in the database (needs DATABASE_URL)",
    )
    keys.add_argument(
        "--keys", type=Path, metavar="FILE", help='sign with the keys in FILE: {"SEAL": {"kid": ..., "secret": ...}}'
    )
    parser.set_defaults(func=run)


def build_fleet(args: argparse.Namespace) -> Fleet:
    routes = args.routes.split(",") if args.routes else None
    for code in routes or []:
        if code not in ROUTES:
            raise SystemExit(f"unknown route {code!r}; known: {', '.join(sorted(ROUTES))}")
    try:
        plans = with_faults(default_plans(args.seals, args.seed, routes), [parse_fault(s) for s in args.fault])
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return Fleet.from_plans(plans, SimClock(start_ago_s=args.start_ago * 60, speedup=args.speedup))


def _sign(fleet: Fleet, args: argparse.Namespace, settings: Settings) -> None:
    """Give the seals their keys; without keys they publish unsigned (accepted only with signatures optional)."""
    from simulators.keys import provision_plans, read_key_file
    from simulators.plans import with_keys

    plans = [seal.plan for seal in fleet.seals]
    if getattr(args, "provision_keys", False):
        if not settings.database_url:
            raise SystemExit("--provision-keys needs DATABASE_URL")
        plans = provision_plans(settings.database_url, plans)
    elif getattr(args, "keys", None) is not None:
        try:
            plans = with_keys(plans, read_key_file(args.keys))
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
    else:
        log.warning("seals publish unsigned: ingest rejects them unless SEALWATCH_REQUIRE_SIGNATURES=false")
        return
    for seal, plan in zip(fleet.seals, plans, strict=True):
        seal.plan = plan


def run(args: argparse.Namespace, settings: Settings) -> int:
    fleet = build_fleet(args)
    _sign(fleet, args, settings)
    mqtt_url = settings.mqtt_url or "mqtt://127.0.0.1:1883"

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("simulating", seals=len(fleet.seals), broker=mqtt_url, interval_s=args.interval)
        stats = await run_fleet(fleet, mqtt_url, args.interval, stop, args.duration)
        log.info("simulation stopped", fixes=stats.fixes, messages=stats.messages, reconnects=stats.reconnects)

    asyncio.run(main())
    return 0
