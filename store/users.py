"""Users, roles, sessions and login throttling (migration 0500).

A user has one role; a ``mobile_group`` user is bound to a mobile group and a ``declarant`` to a
TIN. Passwords are hashed with argon2id (argon2-cffi) and stored apart from the audited ``users``
table. A session is an opaque random token handed to the client once; the database keeps only
its sha256, with an expiry.

Login throttling lives in the database, so it holds across API processes (the rules:
``store.login_throttle``): attempts wait, without the password being checked, once a name and
address pair, an address or an account has failed too often. The check, the password
verification and the recording of a failure run under per-name and per-address advisory locks,
so concurrent attempts cannot overshoot.

Sync functions serve the CLI, the demo and tests; the API uses the async ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import dict_row

from sealwatch.logging import get_logger
from store import login_throttle

log = get_logger(__name__)

DEFAULT_SESSION_TTL = timedelta(hours=12)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
TIN_PATTERN = r"^\d{10}$"
GROUP_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
# Verified against when the user does not exist, so an unknown name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Role(StrEnum):
    OPERATOR = "operator"
    OFFICER = "officer"
    MOBILE_GROUP = "mobile_group"
    AUDITOR = "auditor"
    DECLARANT = "declarant"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role
    group_id: str | None = None
    tin: str | None = None
    disabled: bool = False


class UserError(ValueError):
    """Invalid user data (bad name, role binding or password)."""


class UserExistsError(UserError):
    pass


class UnknownUserError(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    """Exactly one of: a session ``token`` (with the user), ``retry_after_s`` (throttled), or neither (refused)."""

    user: User | None = None
    token: str | None = None
    retry_after_s: int | None = None


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserError(f"a password has {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate(name: str, role: Role | str, group_id: str | None, tin: str | None) -> Role:
    """Check a user's name and role binding (the database checks them again); returns the role."""
    if not re.match(NAME_PATTERN, name):
        raise UserError("a user name is 1 to 64 letters, digits or . _ @ - (starting with a letter or digit)")
    try:
        r = Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r}: one of {', '.join(Role)}") from None
    if (r is Role.MOBILE_GROUP) != (group_id is not None):
        raise UserError("a mobile_group user needs a group_id, and only it has one")
    if (r is Role.DECLARANT) != (tin is not None):
        raise UserError("a declarant user needs a tin, and only it has one")
    if group_id is not None and not re.match(GROUP_PATTERN, group_id):
        raise UserError("group_id is 1 to 64 letters, digits or . _ -")
    if tin is not None and not re.match(TIN_PATTERN, tin):
        raise UserError("tin is 10 digits (VÖEN)")
    return r


def _user(row: dict[str, Any]) -> User:
    return User(row["name"], Role(row["role"]), row["group_id"], row["tin"], row["disabled"])


_USER_COLUMNS = "name, role, group_id, tin, disabled"
_INSERT_USER = "INSERT INTO users (name, role, group_id, tin) VALUES (%s, %s, %s, %s) RETURNING " + _USER_COLUMNS
_INSERT_CREDENTIAL = """INSERT INTO user_credentials (name, password_hash) VALUES (%s, %s)
    ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash, changed_at = now()"""
_INSERT_SESSION = """INSERT INTO sessions (token_hash, name, expires_at, ip)
    VALUES (%s, %s, now() + make_interval(secs => %s), %s)"""
_LOOKUP_SESSION = """SELECT u.name, u.role, u.group_id, u.tin, u.disabled FROM sessions s JOIN users u USING (name)
    WHERE s.token_hash = %s AND s.expires_at > now() AND NOT u.disabled"""


# ---- sync: CLI, demo, tests ----


def create_user(
    conn: psycopg.Connection[Any],
    name: str,
    role: Role | str,
    password: str | None,
    *,
    group_id: str | None = None,
    tin: str | None = None,
) -> User:
    """Create a user (committed); without a password it cannot log in until one is set."""
    r = validate(name, role, group_id, tin)
    password_hash = hash_password(password) if password is not None else None
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        try:
            cur.execute(_INSERT_USER, (name, r.value, group_id, tin))
        except psycopg.errors.UniqueViolation:
            raise UserExistsError(f"user {name!r} already exists") from None
        row = cur.fetchone()
        if password_hash is not None:
            cur.execute(_INSERT_CREDENTIAL, (name, password_hash))
    assert row is not None
    log.info("user created", name=name, role=r.value)
    return _user(row)


def create_session(
    conn: psycopg.Connection[Any], name: str, ttl: timedelta = DEFAULT_SESSION_TTL, ip: str | None = None
) -> str:
    """A new session for ``name`` (committed); returns the token, which is stored only hashed."""
    token = new_token()
    with conn.transaction():
        conn.execute(_INSERT_SESSION, (token_hash(token), name, ttl.total_seconds(), ip))
    return token


# ---- async: the API ----


async def lookup_session(conn: psycopg.AsyncConnection[Any], token: str) -> User | None:
    """The enabled user of an unexpired session, else None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(_LOOKUP_SESSION, (token_hash(token),))
        row = await cur.fetchone()
    return _user(row) if row else None


async def revoke_session(conn: psycopg.AsyncConnection[Any], token: str) -> bool:
    cur = await conn.execute("DELETE FROM sessions WHERE token_hash = %s", (token_hash(token),))
    return cur.rowcount > 0


async def get_user(conn: psycopg.AsyncConnection[Any], name: str) -> User | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE name = %s", (name,))
        row = await cur.fetchone()
    return _user(row) if row else None


async def list_users(conn: psycopg.AsyncConnection[Any]) -> list[User]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name")
        return [_user(r) for r in await cur.fetchall()]


async def add_user(
    conn: psycopg.AsyncConnection[Any],
    name: str,
    role: Role | str,
    password: str,
    *,
    group_id: str | None = None,
    tin: str | None = None,
) -> User:
    r = validate(name, role, group_id, tin)
    password_hash = await asyncio.to_thread(hash_password, password)
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        try:
            await cur.execute(_INSERT_USER, (name, r.value, group_id, tin))
        except psycopg.errors.UniqueViolation:
            raise UserExistsError(f"user {name!r} already exists") from None
        row = await cur.fetchone()
        await cur.execute(_INSERT_CREDENTIAL, (name, password_hash))
    assert row is not None
    log.info("user created", name=name, role=r.value)
    return _user(row)


async def update_user(
    conn: psycopg.AsyncConnection[Any],
    name: str,
    *,
    role: Role | str | None = None,
    group_id: str | None = None,
    tin: str | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user. A role change rebinds: the new group_id / tin replace the old (None unbinds).
    Disabling, a new password or a new role ends every session of the user."""
    password_hash = await asyncio.to_thread(hash_password, password) if password is not None else None
    async with conn.transaction():
        current = await get_user(conn, name)
        if current is None:
            raise UnknownUserError(f"user {name!r} does not exist")
        new_role = Role(role) if role is not None else current.role
        if role is not None:
            new_group, new_tin = group_id, tin
        else:
            new_group = group_id if group_id is not None else current.group_id
            new_tin = tin if tin is not None else current.tin
        validate(name, new_role, new_group, new_tin)
        new_disabled = current.disabled if disabled is None else disabled
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                f"""UPDATE users SET role = %s, group_id = %s, tin = %s, disabled = %s, updated_at = now()
                    WHERE name = %s RETURNING {_USER_COLUMNS}""",
                (new_role.value, new_group, new_tin, new_disabled, name),
            )
            row = await cur.fetchone()
        if password_hash is not None:
            await conn.execute(_INSERT_CREDENTIAL, (name, password_hash))
        if new_disabled or password_hash is not None or new_role is not current.role or new_group != current.group_id:
            await conn.execute("DELETE FROM sessions WHERE name = %s", (name,))
    assert row is not None
    log.info("user updated", name=name, role=new_role.value, disabled=new_disabled, password=password is not None)
    return _user(row)


async def login(
    conn: psycopg.AsyncConnection[Any],
    name: str,
    password: str,
    ip: str,
    ttl: timedelta = DEFAULT_SESSION_TTL,
) -> LoginOutcome:
    """Check a name and password under the throttle; on success open a session."""
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # Name before address, always: two attempts never wait on each other's locks in a cycle.
        await cur.execute("SELECT pg_advisory_xact_lock(hashtextextended('sealwatch.login.user:' || %s, 0))", (name,))
        await cur.execute("SELECT pg_advisory_xact_lock(hashtextextended('sealwatch.login.ip:' || %s, 0))", (ip,))
        wait = await login_throttle.retry_after(cur, name, ip)
        if wait is not None:
            log.warning("login throttled", name=name, ip=ip, retry_after_s=wait)
            return LoginOutcome(retry_after_s=wait)
        await cur.execute(
            f"""SELECT {", ".join("u." + c for c in _USER_COLUMNS.split(", "))}, c.password_hash
                FROM users u LEFT JOIN user_credentials c USING (name) WHERE u.name = %s""",
            (name,),
        )
        row = await cur.fetchone()
        stored = row["password_hash"] if row and row["password_hash"] else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_password, stored, password)
        if not ok or row is None or row["password_hash"] is None or row["disabled"]:
            await login_throttle.record_failure(cur, name, ip)
            log.warning("login failed", name=name, ip=ip)
            return LoginOutcome()
        if _hasher.check_needs_rehash(stored):
            await cur.execute(_INSERT_CREDENTIAL, (name, await asyncio.to_thread(_hasher.hash, password)))
        # A success clears its own pair's failures only: others' guesses at this account, and this
        # address's guesses at other accounts, stay counted. Expired sessions are swept on the way.
        await login_throttle.record_success(cur, name, ip)
        await cur.execute("DELETE FROM sessions WHERE expires_at < now() - interval '1 day'")
        token = new_token()
        await cur.execute(_INSERT_SESSION, (token_hash(token), name, ttl.total_seconds(), ip))
    user = _user(row)
    log.info("login", name=name, role=user.role.value, ip=ip)
    return LoginOutcome(user=user, token=token)
