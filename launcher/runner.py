"""Running the service: ``ingest``, ``api``, ``up`` (both, supervised) and ``demo``.

``up`` runs ingest and the API as separate processes (two cores, and a slow page never
delays ingest); their metrics meet in a shared PROMETHEUS_MULTIPROC_DIR that the API serves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from sealwatch.config import Settings
from sealwatch.logging import get_logger

if TYPE_CHECKING:
    from alerts.service import AlertService
    from alerts.settings import AlertSettings
    from geofence.live import LiveGeofence
    from ingest.judging import Committed, Key, Owns

log = get_logger(__name__)

MAINTENANCE_INTERVAL_S = 3600.0
AGGREGATES_INTERVAL_S = 300.0


# -- ingest ------------------------------------------------------------------------------------


def configure_ingest(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(func=run_ingest)


def _interrupt_on_sigterm() -> None:
    """SIGTERM (service managers, ``kill``) stops a supervisor the way Ctrl-C does: children and
    private servers are shut down by the ``with`` blocks instead of being orphaned."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


def _maintain_storage(url: str, settings: Settings) -> None:
    from store import dead_letters, partitions
    from store.db import connect
    from store.migrate import storage_mode

    with connect(url) as conn:
        partitions.maintain(
            conn,
            storage_mode(conn),
            retention_days=settings.retention_days,
            ahead_days=settings.partitions_ahead_days,
            compress_after_days=settings.compress_after_days,
        )
        dead_letters.sweep(conn, dead_letters.DeadLetterLimits.of(settings))


def _refresh_aggregates(url: str) -> None:
    from store import aggregates
    from store.db import connect

    with connect(url) as conn:
        aggregates.refresh(conn)


async def _every(seconds: float, job: Callable[[], None], what: str, stop: asyncio.Event) -> None:
    """Run a blocking job in a thread now and every ``seconds`` until ``stop``; failures retry next time."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception("periodic job failed; will retry", job=what)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


class Judging:
    """Ingest's downstream (``ingest.judging.Downstream``): each committed batch goes through the
    geofence engine, then the alert rules, whose transaction also marks the batch judged."""

    def __init__(self, geofence: LiveGeofence, alerts: AlertService) -> None:
        self.geofence = geofence
        self.alerts = alerts

    async def judge(self, batch: Committed) -> None:
        from ingest.metrics import STAGE_SECONDS

        started = time.perf_counter()
        result = await self.geofence.judge(batch.records, every=batch.recovering)
        judged = time.perf_counter()
        await self.alerts.on_batch(batch.records, result.observations, then=batch.mark_judged, late=result.late)
        STAGE_SECONDS.labels(stage="geofence").inc(judged - started)
        STAGE_SECONDS.labels(stage="alerts").inc(time.perf_counter() - judged)

    async def own(self, owns: Owns | None, rebuild: Owns, exclude: set[Key]) -> None:
        self.alerts.owns = owns  # the timers, too, cover only this worker's seals
        await self.geofence.own(owns, rebuild, exclude)


async def serve_ingest(settings: Settings, stop: asyncio.Event, alert_settings: AlertSettings | None = None) -> None:
    """Ingest with the engine behind it: each committed batch goes through geofence, then alerts.

    With ``SEALWATCH_NATS_URL`` the worker takes its share of the seals' partitions from NATS
    JetStream (``MQTT_URL`` is then the NATS server's MQTT listener, for dispatches and groups).
    """
    from alerts.groups import consume_group_positions
    from alerts.service import AlertService
    from alerts.settings import get_alert_settings
    from geofence.live import LiveGeofence
    from ingest.partitioned import PartitionedWorker
    from ingest.worker import IngestWorker, Worker
    from maps.vocabulary import words
    from store.db import database_url

    url = database_url(settings)
    mqtt_url = settings.mqtt_url or "mqtt://127.0.0.1:1883"
    alert_settings = alert_settings or get_alert_settings()
    if alert_settings.mqtt_url is None:
        # The service account publishes dispatches and reads group positions; ingest's may not.
        alert_settings = alert_settings.model_copy(update={"mqtt_url": settings.alerts_mqtt_url or mqtt_url})
    service_mqtt_url = alert_settings.mqtt_url or mqtt_url
    geofence = LiveGeofence(url)
    await geofence.reload()  # the worker rebuilds per-seal state for the seals it judges
    # What start-up loaded (engine model, imports) lives as long as the process: keep the
    # collector's full passes off it, they otherwise stall the loop on a busy stream.
    gc.collect()
    gc.freeze()
    alerts = AlertService(url, alert_settings, publish=None, words=words)
    judging = Judging(geofence, alerts)
    worker: Worker
    if settings.nats_url:
        worker = PartitionedWorker(settings, url, settings.nats_url, mqtt_url, downstream=judging)
        alerts.owns = worker.owns  # before the broker is reached, too: no leases, no seals to time
    else:
        worker = IngestWorker(settings, url, mqtt_url, downstream=judging)
    background = [
        asyncio.create_task(_every(MAINTENANCE_INTERVAL_S, lambda: _maintain_storage(url, settings), "storage", stop)),
        asyncio.create_task(_every(AGGREGATES_INTERVAL_S, lambda: _refresh_aggregates(url), "aggregates", stop)),
        asyncio.create_task(geofence.listen(stop)),
        asyncio.create_task(alerts.run_timers(stop)),
        asyncio.create_task(alerts.run_outbox(stop)),
        asyncio.create_task(consume_group_positions(url, service_mqtt_url, stop)),
    ]
    try:
        stats = await worker.run(stop)
        log.info("ingest stopped", messages=stats.messages, stored=stats.stored, rejected=stats.rejected)
    finally:
        stop.set()
        await asyncio.wait(background, timeout=10)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await alerts.aclose()
        geofence.close()


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await serve_ingest(settings, stop)

    asyncio.run(main())
    return 0


# -- api ---------------------------------------------------------------------------------------


def configure_api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default SEALWATCH_API_HOST)")
    parser.add_argument("--port", type=int, help="port (default SEALWATCH_API_PORT)")
    parser.set_defaults(func=run_api)


def run_api(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # The API reads X-Forwarded-For itself, from SEALWATCH_TRUSTED_PROXIES only (api.client_address).
        proxy_headers=False,
    )
    return 0


# -- up ----------------------------------------------------------------------------------------


def configure_up(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, help="API port (default SEALWATCH_API_PORT)")
    parser.add_argument(
        "--ingest-workers",
        type=int,
        default=1,
        help="ingest processes sharing the seals' partitions (needs SEALWATCH_NATS_URL)",
    )
    parser.set_defaults(func=run_up)


def _child_env(settings: Settings, database_url: str, mqtt_url: str) -> dict[str, str]:
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # stale samples of dead processes would be summed
    metrics_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, MQTT_URL=mqtt_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir.resolve()))
    return env


@contextlib.contextmanager
def supervised(commands: dict[str, list[str]], env: dict[str, str]) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    """Start child processes; on exit, stop them with SIGTERM (then SIGKILL after 15 s)."""
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, argv in commands.items():
            children[name] = subprocess.Popen(argv, env=env)
            log.info("started", process=name, pid=children[name].pid)
        yield children
    finally:
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, child in children.items():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("did not stop in time; killing", process=name)
                child.kill()
                child.wait()


def _sealwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "launcher.cli", *args]


def service_commands(port: int, ingest_workers: int = 1) -> dict[str, list[str]]:
    ingest = {
        f"ingest-{i + 1}" if ingest_workers > 1 else "ingest": _sealwatch("ingest") for i in range(ingest_workers)
    }
    return {**ingest, "api": _sealwatch("api", "--port", str(port))}


def wait_while_running(children: dict[str, subprocess.Popen[bytes]]) -> int:
    while True:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                log.error("process exited; stopping the service", process=name, code=code)
                return code or 1
        time.sleep(0.5)


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    from store.db import database_url
    from store.migrate import migrate

    _interrupt_on_sigterm()
    url = database_url(settings)
    mqtt_url = settings.mqtt_url or "mqtt://127.0.0.1:1883"
    migrate(url, settings.storage)
    port = args.port or settings.api_port
    if args.ingest_workers > 1 and not settings.nats_url:
        log.error("several ingest workers share the seals' partitions on NATS: set SEALWATCH_NATS_URL")
        return 2
    commands = service_commands(port, args.ingest_workers)
    with supervised(commands, _child_env(settings, url, mqtt_url)) as children:
        from launcher import servers
        from launcher.summary import startup_summary

        map_url = f"http://{settings.api_host}:{port}/"
        with contextlib.suppress(TimeoutError):
            servers.wait_for_port(settings.api_host, port, timeout=60)
        log.info("sealwatch is up", map=map_url)
        sys.stderr.write(
            startup_summary(
                title="sealwatch is up",
                map_url=map_url,
                user=None,
                password=None,
                database_url=url,
                mqtt_url=mqtt_url,
                stop="Ctrl-C or SIGTERM",
                extra={"first admin": "sealwatch user add admin --role admin"},
            )
        )
        try:
            return wait_while_running(children)
        except KeyboardInterrupt:
            return 0


# -- demo --------------------------------------------------------------------------------------


def configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seals", type=int, default=40, help="number of simulated seals (default 40)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between fixes per seal (default 2)")
    parser.add_argument("--port", type=int, help="API port (default SEALWATCH_API_PORT)")
    parser.add_argument("--seed", type=int, default=7, help="random seed for the fleet")
    parser.add_argument("--no-browser", action="store_true", help="do not try to open a browser")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--no-faults", action="store_true", help="no scripted faults on the demo seals")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the previous run's transits, alerts and fixes (default: start clean)",
    )
    parser.set_defaults(func=run_demo)


@contextlib.contextmanager
def private_servers(settings: Settings) -> Iterator[tuple[str, str]]:
    """DATABASE_URL / MQTT_URL if set; otherwise private servers under the data directory."""
    from launcher import servers

    data_dir = settings.data_dir.resolve()
    url = settings.database_url or servers.start_embedded_postgres(data_dir / "postgres")
    broker: servers.Mosquitto | None = None
    amqtt: subprocess.Popen[bytes] | None = None
    if settings.mqtt_url:
        mqtt_url = settings.mqtt_url
    elif shutil.which("mosquitto"):
        broker = servers.Mosquitto(data_dir=data_dir / "mosquitto").start()
        mqtt_url = broker.url
    else:
        port = servers.free_port()
        log.info("mosquitto not installed; starting the embedded amqtt broker", port=port)
        amqtt = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from launcher.servers import run_amqtt_broker; run_amqtt_broker({port})",
            ]
        )
        servers.wait_for_port("127.0.0.1", port)
        mqtt_url = f"mqtt://127.0.0.1:{port}"
    try:
        yield url, mqtt_url
    finally:
        if broker:
            broker.stop()
        if amqtt:
            amqtt.terminate()
            amqtt.wait(10)


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from launcher import servers
    from launcher.demo import (
        DEMO_OPERATOR,
        DemoResetRefusedError,
        ensure_demo_operator,
        release_fleet,
        reset_demo_data,
        run_fleet_until,
    )
    from launcher.demo_state import DemoState, clear_state, write_state
    from launcher.progress import Progress
    from launcher.summary import startup_summary
    from store.migrate import migrate

    _interrupt_on_sigterm()
    started = time.monotonic()
    with private_servers(settings) as (url, mqtt_url):
        migrate(url, settings.storage)
        if not args.keep:
            try:
                reset_demo_data(url)
            except DemoResetRefusedError as exc:
                sys.stderr.write(f"sealwatch demo: {exc}\n")
                return 2
        configured = settings.demo_password
        password = ensure_demo_operator(url, configured.get_secret_value() if configured else None)
        progress = Progress("seals released")
        plans = release_fleet(url, args.seals, args.seed, faults=not args.no_faults, progress=progress.update)
        progress.close()
        port = args.port or settings.api_port
        map_url = f"http://{settings.api_host}:{port}/"
        with supervised(service_commands(port), _child_env(settings, url, mqtt_url)) as children:
            with contextlib.suppress(TimeoutError):
                servers.wait_for_port(settings.api_host, port, timeout=60)  # the map answers before it is announced
            write_state(DemoState(os.getpid(), url, mqtt_url, map_url))
            ready_s = time.monotonic() - started
            log.info("demo running", map=map_url, seals=len(plans), ready_s=round(ready_s, 1))
            sys.stderr.write(
                startup_summary(
                    title=f"sealwatch demo: {len(plans)} seals, ready in {ready_s:.1f} s",
                    map_url=map_url,
                    user=DEMO_OPERATOR,
                    password=password,
                    database_url=url,
                    mqtt_url=mqtt_url,
                    stop="Ctrl-C (the next `sealwatch demo` starts clean; --keep keeps this run's data)",
                    extra={"add users": "sealwatch user add NAME --role ROLE (finds this demo's database)"},
                )
            )
            if not args.no_browser:
                _open_browser(map_url)
            try:
                return run_fleet_until(settings, mqtt_url, plans, args, children)
            except KeyboardInterrupt:
                return 0
            finally:
                clear_state(os.getpid())


def _open_browser(url: str) -> None:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform == "darwin"):
        return
    import webbrowser

    with contextlib.suppress(Exception):
        webbrowser.open(url)
