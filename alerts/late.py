"""Alerts found late: what a backlog reveals, judged in its own time order.

When the engine judges a seal again for late fixes (``geofence.late``), the rules run over the
same in-order stream from a fresh memory (the state the seal had at release), so each condition
is judged against the state the seal had at that time. The raises after ``since`` (the fix before
the backlog) are grouped into episodes per type (raise … clear). An episode that overlaps an alert
of the same transit and type, raised or resolved, is the same violation seen live: never a second
alert (it can only date that alert's first time earlier). Any other episode becomes an alert
stamped with when it happened (``first_t`` and ``raised_at`` = event time), ``late`` and
``detected_at`` = now; if its condition already ended in the backlog that is noted, and the alert
stays open: nobody saw it happen, an operator must look.

Timer types (signal lost, overdue) are the live timers' business, and arrival is recorded live.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, get_args

from alerts.model import AlertType, Condition, Severity

# What fixes show; signal lost, overdue and arrival come from timers and the live path only.
LATE_TYPES: frozenset[str] = frozenset(get_args(AlertType)) - {"signal_lost", "overdue", "arrival"}
_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(slots=True)
class Episode:
    """One violation a backlog revealed: from its first raise to the clear that ended it."""

    type: AlertType
    transit_id: str
    seal_id: str
    start: float  # event time of the first raise
    last: float  # event time of the latest raise
    lat: float | None
    lon: float | None
    severity: Severity
    evidence: dict[str, Any] = field(default_factory=dict)
    raises: int = 1
    end: float | None = None  # the clear's event time (None: still going at the newest fix)
    end_reason: str = ""

    @property
    def until(self) -> float:
        return math.inf if self.end is None else self.end


def episodes(conditions: list[Condition], since: float) -> list[Episode]:
    """Group the in-order conditions into episodes per (transit, type); only those that start
    after ``since`` (earlier ones were judged live, in order)."""
    open_: dict[tuple[str, str], Episode] = {}
    out: list[Episode] = []
    for c in conditions:
        if c.type not in LATE_TYPES:
            continue
        key = (c.transit_id, c.type)
        ep = open_.get(key)
        if c.action == "clear":
            if ep is not None:
                ep.end, ep.end_reason = c.t, c.reason
                del open_[key]
            continue
        if ep is None:
            ep = Episode(c.type, c.transit_id, c.seal_id, c.t, c.t, c.lat, c.lon, c.severity, dict(c.evidence))
            open_[key] = ep
            if c.t > since:
                out.append(ep)
            if c.type == "gps_jump":  # one fix, one event: a jump has no clear
                ep.end = c.t
                del open_[key]
            continue
        ep.raises += 1
        ep.last = c.t
        if _RANK[c.severity] > _RANK[ep.severity]:
            ep.severity = c.severity
            ep.evidence = {**ep.evidence, **c.evidence}
    return out


@dataclass(slots=True)
class Known:
    """An alert of the same transit and type already in the database."""

    id: int
    first_t: float
    status: str
    last_t: float
    cleared_t: float | None

    @property
    def until(self) -> float:
        if self.cleared_t is not None:
            return self.cleared_t
        return self.last_t if self.status == "resolved" else math.inf


def overlapping(ep: Episode, known: list[Known]) -> Known | None:
    """The alert that already stands for this episode (overlapping in event time), if any."""
    for k in known:
        if k.first_t <= ep.until and k.until >= ep.start:
            return k
    return None
