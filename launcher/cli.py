"""The ``sealwatch`` command line: one sub-command per job, each with ``--help``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sealwatch.config import Settings, get_settings
from sealwatch.logging import configure_logging

if TYPE_CHECKING:
    import psycopg

Handler = Callable[[argparse.Namespace, Settings], int]


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from store.db import database_url
    from store.migrate import migrate

    applied = migrate(database_url(settings), settings.storage)
    for m in applied:
        sys.stdout.write(f"applied {m.version:04d}_{m.name}{'.' + m.variant if m.variant else ''}\n")
    sys.stdout.write(f"{len(applied)} migration(s) applied; schema is up to date\n")
    return 0


def _schema(args: argparse.Namespace, settings: Settings) -> int:
    from sealwatch.wire import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


def _audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from store.audit import verify
    from store.db import connect, database_url

    with connect(database_url(settings)) as conn:
        result = verify(conn)
    sys.stdout.write(result.describe() + "\n")
    return 0 if result.ok else 1


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new user's password: one line of stdin, a prompt on a terminal, else generated (shown)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise SystemExit("the passwords differ")
        return first, False
    import secrets

    return secrets.token_urlsafe(15), True


NO_DATABASE = (
    "DATABASE_URL is not set and no sealwatch demo is running.\n"
    "  Set it to the service's database, e.g. DATABASE_URL=postgresql://user:password@host:5432/sealwatch,\n"
    "  or start `sealwatch demo` (its database is found while it runs).\n"
)


def _user_database(settings: Settings) -> str | None:
    """DATABASE_URL, else the running demo's database (announced), else None."""
    from launcher.demo_state import running_demo

    if settings.database_url:
        return settings.database_url
    demo = running_demo()
    if demo is None:
        return None
    sys.stderr.write(f"DATABASE_URL is not set: using the running demo's database (pid {demo.pid})\n")
    return demo.database_url


def _unknown_group(conn: psycopg.Connection[dict[str, object]], group_id: str) -> str | None:
    """Why ``group_id`` is refused (it is not a known mobile group), or None."""
    known = [str(r["group_id"]) for r in conn.execute("SELECT group_id FROM mobile_groups ORDER BY group_id")]
    if group_id in known:
        return None
    listed = ", ".join(known) if known else "none yet"
    return (
        f"mobile group {group_id!r} does not exist (known groups: {listed}). A group is known once it has "
        "reported a position; pass --new-group to bind the user to a group that has not reported yet."
    )


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    import psycopg

    from store.db import connect
    from store.users import UserError, create_user

    url = _user_database(settings)
    if url is None:
        sys.stderr.write("sealwatch user add: " + NO_DATABASE)
        return 2
    try:
        with connect(url) as conn:
            if args.group_id is not None and not args.new_group:
                refused = _unknown_group(conn, args.group_id)
                if refused is not None:
                    sys.stderr.write(f"sealwatch user add: {refused}\n")
                    return 2
            password, generated = _read_password(args)
            user = create_user(conn, args.name, args.role, password, group_id=args.group_id, tin=args.tin)
    except UserError as exc:
        sys.stderr.write(f"sealwatch user add: {exc}\n")
        return 2
    except psycopg.OperationalError as exc:
        sys.stderr.write(f"sealwatch user add: cannot reach the database: {str(exc).strip()}\n")
        return 2
    binding = f" group {user.group_id}" if user.group_id else f" TIN {user.tin}" if user.tin else ""
    sys.stdout.write(f"created user {user.name} ({user.role.value}{binding})\n")
    if generated:
        sys.stdout.write(f"password: {password}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from launcher import runner
    from simulators import cli as simulate_cli

    parser = argparse.ArgumentParser(prog="sealwatch", description="Customs e-seal and transit tracking.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="run everything with a simulated fleet and open the live map",
        description="Start private PostgreSQL and MQTT servers unless DATABASE_URL / "
        "MQTT_URL are set, migrate, release a demo fleet through customs, run ingest, "
        "the engine, the API and the simulator, and print the map URL.",
    )
    runner.configure_demo(demo)

    up = sub.add_parser("up", help="run the service (ingest, engine, API) against DATABASE_URL and MQTT_URL")
    runner.configure_up(up)

    ingest = sub.add_parser("ingest", help="run only the MQTT ingest worker")
    runner.configure_ingest(ingest)

    api = sub.add_parser("api", help="run only the HTTP API and map")
    runner.configure_api(api)

    simulate = sub.add_parser("simulate", help="drive virtual seals along real routes over MQTT")
    simulate_cli.configure(simulate)

    migrate = sub.add_parser("migrate", help="apply pending database migrations (idempotent)")
    migrate.set_defaults(func=_migrate)

    audit = sub.add_parser("audit", help="check the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify",
        help="recompute the audit log's hash chain; exit 1 at the first edited, deleted or reordered entry",
    )
    verify.set_defaults(func=_audit_verify)

    from store.users import Role

    user = sub.add_parser("user", help="manage API users")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser(
        "add",
        help="create a user with a role",
        description="Create an API user. The password is read from stdin with --password-stdin, asked for "
        "on a terminal, or else generated and printed once.",
    )
    add.add_argument("name", help="user name (letters, digits, . _ @ -)")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--group-id", help="mobile_group: the mobile group it handles alerts for (must exist)")
    add.add_argument(
        "--new-group", action="store_true", help="accept a --group-id that has not reported a position yet"
    )
    add.add_argument("--tin", help="declarant: its TIN (10 digits)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    add.set_defaults(func=_user_add)

    schema = sub.add_parser("schema", help="print or write the wire-format JSON Schema")
    schema.add_argument("--output", "-o", default="-", help="file to write, or - for stdout")
    schema.set_defaults(func=_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    handler: Handler = args.func
    from store.db import DatabaseNotConfiguredError

    try:
        return handler(args, settings)
    except DatabaseNotConfiguredError as exc:  # a setting to make, not a bug: no traceback
        sys.stderr.write(f"sealwatch {args.command}: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
