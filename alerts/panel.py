"""The console's alerts panel: unresolved alerts, most severe first, with true counts and groups.

Ordered by severity (critical, warning, info), then newest raised first, then id, and paged by
keyset on that triple (the ``alerts_panel`` index of migration 0660): a critical alert is on the
first page however many warnings are open. Counts per type and per severity and the groups of
identical alerts (same type and severity) are over everything the status filter selects, not
over the page, so "9,960 signal lost" is the real number.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from alerts.model import AlertType, Severity
from alerts.store import ALERT_COLUMNS, AnyConn, Row, fetch_all

PanelState = Literal["open", "acknowledged", "dispatched", "all"]

RANK_SQL = "(CASE a.severity WHEN 'critical' THEN 2 WHEN 'warning' THEN 1 ELSE 0 END)"
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class InvalidPanelCursorError(ValueError):
    """The cursor was not produced by this endpoint (or was altered)."""


@dataclass(frozen=True, slots=True)
class PanelKey:
    """The sort key of a page's last alert."""

    rank: int
    raised_at: datetime
    id: int

    def encode(self) -> str:
        raw = orjson.dumps([self.rank, self.raised_at.astimezone(UTC).isoformat(), self.id])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str) -> PanelKey:
        try:
            rank, at, alert_id = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            when = datetime.fromisoformat(at)
            if type(rank) is not int or type(alert_id) is not int or when.tzinfo is None:
                raise ValueError("cursor fields")
            return cls(rank, when, alert_id)
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise InvalidPanelCursorError("invalid cursor") from exc


@dataclass(frozen=True, slots=True)
class Group:
    type: str
    severity: str
    count: int
    newest_at: datetime


@dataclass(frozen=True, slots=True)
class PanelPage:
    total: int
    counts: dict[str, int]
    by_severity: dict[str, int]
    groups: list[Group]
    items: list[Row]
    next: str | None


def _status_filter(state: PanelState) -> tuple[str, dict[str, Any]]:
    if state == "all":
        return "a.status <> 'resolved'", {}
    return "a.status <> 'resolved' AND a.status = %(state)s", {"state": state}


async def panel(
    conn: AnyConn,
    *,
    state: PanelState = "all",
    types: list[AlertType] | None = None,
    severities: list[Severity] | None = None,
    limit: int = 50,
    after: PanelKey | None = None,
) -> PanelPage:
    """One page of the panel. ``state`` ``all`` means every unresolved alert."""
    where, params = _status_filter(state)
    params |= {"types": types or None, "severities": severities or None}
    selected = (
        "(%(types)s::text[] IS NULL OR a.type = ANY(%(types)s))"
        " AND (%(severities)s::text[] IS NULL OR a.severity = ANY(%(severities)s))"
    )
    filters = f" AND {selected}"
    # Facets: by the status filter only, so the panel can show what the type/severity filters would give.
    grouped = await fetch_all(
        conn,
        f"""SELECT a.type, a.severity, count(*) AS n, max(a.raised_at) AS newest_at,
                   bool_and({selected}) AS selected
            FROM alerts a WHERE {where}
            GROUP BY a.type, a.severity""",
        params,
    )
    counts: dict[str, int] = {}
    by_severity: dict[str, int] = {s: 0 for s in ("critical", "warning", "info")}
    total = 0
    groups: list[Group] = []
    for g in grouped:
        counts[g["type"]] = counts.get(g["type"], 0) + g["n"]
        by_severity[g["severity"]] += g["n"]
        if g["selected"]:
            total += g["n"]
            groups.append(Group(g["type"], g["severity"], g["n"], g["newest_at"]))
    groups.sort(key=lambda g: (-SEVERITY_RANK[g.severity], -g.count, g.type))

    page_params = params | {"limit": limit + 1}
    keyset = ""
    if after is not None:
        keyset = f" AND ({RANK_SQL}, a.raised_at, a.id) < (%(rank)s, %(raised_at)s, %(id)s)"
        page_params |= {"rank": after.rank, "raised_at": after.raised_at, "id": after.id}
    items = await fetch_all(
        conn,
        f"""SELECT {ALERT_COLUMNS} FROM alerts a WHERE {where}{filters}{keyset}
            ORDER BY {RANK_SQL} DESC, a.raised_at DESC, a.id DESC LIMIT %(limit)s""",
        page_params,
    )
    nxt = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        nxt = PanelKey(SEVERITY_RANK[last["severity"]], last["raised_at"], int(last["id"])).encode()
    return PanelPage(total, counts, by_severity, groups, items, nxt)
