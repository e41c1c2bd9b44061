"""Dedup: what a condition does given the open alert of its (transit, type), if any.

One unresolved alert per (transit, type) — the database enforces it with a unique partial index;
this module decides, purely, whether a condition creates, updates, reopens, resolves or only
annotates an alert. :class:`MemoryBook` applies the same decisions in memory, for unit tests and
for reasoning about storms without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from alerts.model import AlertStatus, AlertType, Condition, Outcome, Severity
from alerts.settings import AlertSettings

Decision = Literal["create", "update", "reopen", "resolve", "note", "ignore"]


@dataclass(slots=True)
class OpenAlert:
    id: int
    type: AlertType
    status: AlertStatus
    severity: Severity
    last_t: float
    count: int
    cleared: bool  # the condition ended but the alert was left for the operator


@dataclass(slots=True)
class ResolvedAlert:
    id: int
    outcome: Outcome
    cleared_t: float | None  # time of the condition that auto-resolved it


def reopen_window_s(kind: AlertType, s: AlertSettings) -> float:
    return s.route_deviation_reopen_within_s if kind == "route_deviation" else 0.0


def decide(cond: Condition, open_alert: OpenAlert | None, last: ResolvedAlert | None, s: AlertSettings) -> Decision:
    if cond.action == "clear":
        if open_alert is None:
            return "ignore"
        if cond.resolve:
            return "resolve"
        return "ignore" if open_alert.cleared else "note"
    if open_alert is not None:
        return "update" if cond.refresh else "ignore"
    if last is not None and last.outcome == "auto_cleared" and last.cleared_t is not None:
        if cond.t <= last.cleared_t:
            return "ignore"  # older than the clearing that resolved it: a replay, not news
        if cond.t - last.cleared_t <= reopen_window_s(cond.type, s):
            return "reopen"
    return "create"


@dataclass(slots=True)
class BookAlert:
    id: int
    type: AlertType
    transit_id: str
    severity: Severity
    status: AlertStatus = "open"
    count: int = 1
    first_t: float = 0.0
    last_t: float = 0.0
    cleared: bool = False
    outcome: Outcome | None = None
    cleared_t: float | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


class MemoryBook:
    """In-memory alert store with the database's dedup semantics (no lifecycle, no escalation)."""

    def __init__(self, settings: AlertSettings) -> None:
        self.settings = settings
        self.alerts: list[BookAlert] = []
        self.decisions: list[tuple[Decision, Condition]] = []

    def _open(self, transit_id: str, kind: AlertType) -> BookAlert | None:
        for a in self.alerts:
            if a.transit_id == transit_id and a.type == kind and a.status != "resolved":
                return a
        return None

    def _last_resolved(self, transit_id: str, kind: AlertType) -> BookAlert | None:
        done = [a for a in self.alerts if a.transit_id == transit_id and a.type == kind and a.status == "resolved"]
        return done[-1] if done else None

    def apply(self, conditions: list[Condition]) -> list[Decision]:
        out: list[Decision] = []
        for cond in conditions:
            current = self._open(cond.transit_id, cond.type)
            last = self._last_resolved(cond.transit_id, cond.type)
            snapshot = (
                OpenAlert(
                    current.id,
                    current.type,
                    current.status,
                    current.severity,
                    current.last_t,
                    current.count,
                    current.cleared,
                )
                if current
                else None
            )
            resolved = ResolvedAlert(last.id, last.outcome or "other", last.cleared_t) if last else None
            decision = decide(cond, snapshot, resolved, self.settings)
            self._do(decision, cond, current, last)
            self.decisions.append((decision, cond))
            out.append(decision)
        return out

    def _do(self, decision: Decision, cond: Condition, current: BookAlert | None, last: BookAlert | None) -> None:
        if decision == "create":
            self.alerts.append(
                BookAlert(
                    len(self.alerts) + 1,
                    cond.type,
                    cond.transit_id,
                    cond.severity,
                    first_t=cond.t,
                    last_t=cond.t,
                    evidence=dict(cond.evidence),
                )
            )
        elif decision == "update" and current is not None:
            current.count += 1
            current.last_t = max(current.last_t, cond.t)
            current.severity = cond.severity
            current.cleared = False
        elif decision == "reopen" and last is not None:
            last.status, last.outcome, last.cleared_t = "open", None, None
            last.count += 1
            last.last_t = cond.t
        elif decision == "resolve" and current is not None:
            current.status, current.outcome, current.cleared_t = "resolved", "auto_cleared", cond.t
        elif decision == "note" and current is not None:
            current.cleared = True

    def of_type(self, kind: AlertType) -> list[BookAlert]:
        return [a for a in self.alerts if a.type == kind]
