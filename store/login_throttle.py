"""Login throttling: guessing stays bounded, and a guesser cannot lock anyone out.

Failures are kept per (user name, client address) in ``login_failures``; the addresses a user
logged in from, in ``login_addresses``. Before the password is checked, an attempt is made to
wait (429 with Retry-After) when

- its pair (name, address) failed ``PAIR_FREE`` times within ``WINDOW``: each further failure
  doubles the wait after the last one (1 s, 2 s, 4 s … at most ``MAX_DELAY``). Guessing one
  account from one address is bounded; the same account from any other address is untouched.
- its address failed ``ADDRESS_FREE`` times within the window across names, and the name never
  logged in from it (within ``KNOWN_FOR``): spraying names is bounded, while the people who use
  that address (an office behind one NAT) keep logging in.
- the account failed ``ACCOUNT_FREE`` times within the window from everywhere, and this address is
  one of those that failed on it: a guess spread over many addresses is slowed to one attempt per
  ``ACCOUNT_MAX_DELAY`` at most (counted from the account's last failure) — slowed, never locked,
  and an address that has not failed on the account is not held back by the others.

A success clears its own pair only (not the failures of other addresses) and remembers the
address for the name. The delays are pure functions of the counts, so they hold across API
processes: everything lives in the database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

WINDOW = timedelta(hours=1)
PAIR_FREE = 3
ADDRESS_FREE = 20
ACCOUNT_FREE = 50
BASE_DELAY_S = 1.0
MAX_DELAY = timedelta(minutes=15)
ACCOUNT_MAX_DELAY = timedelta(seconds=60)
KNOWN_FOR = timedelta(days=90)


def backoff_s(failures: int, free: int, cap: timedelta) -> float:
    """The wait after the last of ``failures``: none up to ``free``, then doubling up to ``cap``."""
    if failures < free:
        return 0.0
    return min(BASE_DELAY_S * 2.0 ** min(failures - free, 60), cap.total_seconds())


@dataclass(frozen=True, slots=True)
class Counts:
    pair: int
    pair_since_s: float  # seconds since the last failure of each kind
    address: int
    address_since_s: float
    account: int
    account_since_s: float
    known: bool


def wait_s(c: Counts) -> float:
    """Seconds this attempt must still wait (0: it may try now)."""
    waits = [backoff_s(c.pair, PAIR_FREE, MAX_DELAY) - c.pair_since_s]
    if not c.known:
        waits.append(backoff_s(c.address, ADDRESS_FREE, MAX_DELAY) - c.address_since_s)
    if c.pair > 0:
        waits.append(backoff_s(c.account, ACCOUNT_FREE, ACCOUNT_MAX_DELAY) - c.account_since_s)
    return max(0.0, *waits)


_COUNTS = """
SELECT count(*) FILTER (WHERE username = %(name)s AND ip = %(ip)s) AS pair,
       extract(epoch FROM now() - max(at) FILTER (WHERE username = %(name)s AND ip = %(ip)s)) AS pair_since,
       count(*) FILTER (WHERE ip = %(ip)s) AS address,
       extract(epoch FROM now() - max(at) FILTER (WHERE ip = %(ip)s)) AS address_since,
       count(*) FILTER (WHERE username = %(name)s) AS account,
       extract(epoch FROM now() - max(at) FILTER (WHERE username = %(name)s)) AS account_since,
       EXISTS (SELECT 1 FROM login_addresses
               WHERE username = %(name)s AND ip = %(ip)s AND last_at > now() - %(known)s) AS known
FROM login_failures
WHERE (username = %(name)s OR ip = %(ip)s) AND at > now() - %(window)s
"""


async def retry_after(cur: psycopg.AsyncCursor[Any], name: str, ip: str) -> int | None:
    """Whole seconds until ``name`` may try from ``ip``, or None when it may try now."""
    await cur.execute(_COUNTS, {"name": name, "ip": ip, "window": WINDOW, "known": KNOWN_FOR})
    row = await cur.fetchone()
    assert row is not None
    counts = Counts(
        pair=int(row["pair"]),
        pair_since_s=float(row["pair_since"] or 0.0),
        address=int(row["address"]),
        address_since_s=float(row["address_since"] or 0.0),
        account=int(row["account"]),
        account_since_s=float(row["account_since"] or 0.0),
        known=bool(row["known"]),
    )
    wait = wait_s(counts)
    return max(1, math.ceil(wait)) if wait > 0 else None


async def record_failure(cur: psycopg.AsyncCursor[Any], name: str, ip: str) -> None:
    # The time of the failure, after the password check (now() would be the transaction's start).
    await cur.execute("INSERT INTO login_failures (username, ip, at) VALUES (%s, %s, clock_timestamp())", (name, ip))


async def record_success(cur: psycopg.AsyncCursor[Any], name: str, ip: str) -> None:
    """Clears this pair's failures only, remembers the address; old rows are swept on the way."""
    await cur.execute(
        "DELETE FROM login_failures WHERE (username = %s AND ip = %s) OR at < now() - %s",
        (name, ip, max(WINDOW, timedelta(days=1))),
    )
    await cur.execute(
        """INSERT INTO login_addresses (username, ip) VALUES (%s, %s)
           ON CONFLICT (username, ip) DO UPDATE SET last_at = now()""",
        (name, ip),
    )
    await cur.execute("DELETE FROM login_addresses WHERE last_at < now() - %s", (KNOWN_FOR,))
