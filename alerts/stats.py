"""Alert statistics for supervisors: counts and false-alarm rate by type, route and carrier.

The false-alarm rate is false alarms over alerts an operator resolved with an outcome (alerts the
system cleared by itself say nothing about precision). Informational ``arrival`` alerts are left
out: they are not alarms. Carriers come from the transit's declaration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from alerts.store import AnyConn, fetch_all


class StatRow(BaseModel):
    key: str
    label: str
    total: int
    open: int
    reviewed: int
    false_alarms: int
    violations: int
    false_alarm_rate: float | None


class AlertStats(BaseModel):
    start: datetime | None
    end: datetime | None
    total: int
    by_type: list[StatRow]
    by_route: list[StatRow]
    by_carrier: list[StatRow]


_GROUPS: dict[str, tuple[str, str]] = {
    # name: (key expression, label expression) — fixed SQL, never user input
    "by_type": ("a.type", "a.type"),
    "by_route": ("coalesce(t.route_code, 'ad hoc')", "coalesce(r.name, t.route_code, 'ad hoc itinerary')"),
    "by_carrier": ("d.carrier_tin", "max(d.carrier_name)"),
}


async def alert_stats(conn: AnyConn, since: datetime | None = None, until: datetime | None = None) -> AlertStats:
    params: dict[str, Any] = {"since": since, "until": until}
    out: dict[str, list[StatRow]] = {}
    for name, (key, label) in _GROUPS.items():
        group_by = f"{key}, r.name, t.route_code" if name == "by_route" else key
        rows = await fetch_all(
            conn,
            f"""SELECT {key} AS key, {label} AS label, count(*) AS total,
                       count(*) FILTER (WHERE a.status <> 'resolved') AS open,
                       count(*) FILTER (WHERE a.outcome IS NOT NULL AND a.outcome <> 'auto_cleared') AS reviewed,
                       count(*) FILTER (WHERE a.outcome = 'false_alarm') AS false_alarms,
                       count(*) FILTER (WHERE a.outcome = 'violation_confirmed') AS violations
                FROM alerts a
                JOIN transits t ON t.transit_id = a.transit_id
                JOIN declarations d ON d.id = t.declaration_id
                LEFT JOIN routes r ON r.code = t.route_code
                WHERE a.type <> 'arrival'
                  AND (%(since)s::timestamptz IS NULL OR a.raised_at >= %(since)s)
                  AND (%(until)s::timestamptz IS NULL OR a.raised_at < %(until)s)
                GROUP BY {group_by} ORDER BY total DESC, key""",
            params,
        )
        out[name] = [
            StatRow(
                **{k: r[k] for k in ("key", "label", "total", "open", "reviewed", "false_alarms", "violations")},
                false_alarm_rate=round(r["false_alarms"] / r["reviewed"], 4) if r["reviewed"] else None,
            )
            for r in rows
        ]
    total = sum(r.total for r in out["by_type"])
    return AlertStats(start=since, end=until, total=total, **out)
