"""Time Release Study (WCO TRS): how long release-to-arrival and border control take, per transit
and as distributions per route and channel.

Measures, from the geofence engine's observations:

* border control time: ``checkpoint_exit − checkpoint_enter`` at border checkpoints, enter paired
  with the very next event of the same seal and zone (an enter without an exit — still inside, or
  the exit lost — counts nothing rather than a guess);
* transit time: arrival − release, where arrival is the first ``arrival`` observation (the
  physical arrival at the office of destination) or, without one, ``transits.arrived_at``;
* time in each zone: ``zone_exit − zone_enter`` summed per zone;
* the time limit: ``deadline − released_at``; ``within_limit`` compares transit time to it.

A transit with several seals has each crossing observed once per seal: per zone the largest of
the seals' totals is taken, so a crossing is never counted twice. All durations are seconds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow

from sealwatch.logging import get_logger

log = get_logger(__name__)

AsyncConn = psycopg.AsyncConnection[DictRow]


@dataclass(frozen=True, slots=True)
class TrsFilter:
    start: datetime | None = None  # released at or after
    end: datetime | None = None  # released before
    route: str | None = None
    channel: str | None = None
    transit_id: str | None = None


_PER_TRANSIT = """
WITH tr AS (
    SELECT t.transit_id, COALESCE(t.route_code, '') AS route_code, t.channel, t.status, t.released_at, t.deadline,
           COALESCE((SELECT min(o.t) FROM observations o WHERE o.transit_id = t.transit_id AND o.kind = 'arrival'),
                    t.arrived_at) AS arrived_at
    FROM transits t
    WHERE (%(start)s::timestamptz IS NULL OR t.released_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR t.released_at < %(end)s)
      AND (%(route)s::text IS NULL OR COALESCE(t.route_code, '') = %(route)s)
      AND (%(channel)s::text IS NULL OR t.channel = %(channel)s)
      AND (%(transit)s::text IS NULL OR t.transit_id = %(transit)s)
), ev AS (
    -- Checkpoint and zone events are separate families (left(kind, 4)): a border crossing has both.
    SELECT o.transit_id, o.seal_id, o.zone_code, o.kind, o.t,
           lead(o.kind) OVER w AS next_kind, lead(o.t) OVER w AS next_t
    FROM observations o JOIN tr ON tr.transit_id = o.transit_id
    WHERE o.kind IN ('checkpoint_enter', 'checkpoint_exit', 'zone_enter', 'zone_exit')
    WINDOW w AS (PARTITION BY o.transit_id, o.seal_id, o.zone_code, left(o.kind, 4) ORDER BY o.t, o.id)
), stays AS (
    SELECT transit_id, seal_id, zone_code, kind = 'checkpoint_enter' AS border,
           extract(epoch FROM next_t - t)::float8 AS s
    FROM ev
    WHERE (kind = 'checkpoint_enter' AND next_kind = 'checkpoint_exit')
       OR (kind = 'zone_enter' AND next_kind = 'zone_exit')
), per_seal AS (
    SELECT transit_id, seal_id, zone_code, border, sum(s) AS s, count(*) AS visits
    FROM stays GROUP BY 1, 2, 3, 4
), zone_time AS (
    SELECT transit_id, zone_code, border, max(s) AS seconds, max(visits) AS visits
    FROM per_seal GROUP BY 1, 2, 3
), per AS (
    SELECT tr.*,
           extract(epoch FROM tr.deadline - tr.released_at)::float8 AS time_limit_s,
           extract(epoch FROM tr.arrived_at - tr.released_at)::float8 AS transit_time_s,
           (SELECT sum(z.seconds) FROM zone_time z WHERE z.transit_id = tr.transit_id AND z.border) AS border_control_s,
           COALESCE((SELECT jsonb_agg(jsonb_build_object('zone_code', z.zone_code, 'zone_kind', zn.kind,
                                                         'seconds', z.seconds, 'visits', z.visits)
                                      ORDER BY z.zone_code)
                     FROM zone_time z LEFT JOIN zones zn ON zn.code = z.zone_code
                     WHERE z.transit_id = tr.transit_id AND NOT z.border), '[]') AS zones
    FROM tr
)
"""

_PER_TRANSIT_SELECT = (
    _PER_TRANSIT
    + """
SELECT transit_id, route_code, channel, status, released_at, arrived_at, deadline, time_limit_s, transit_time_s,
       border_control_s, transit_time_s <= time_limit_s AS within_limit, zones
FROM per ORDER BY released_at, transit_id"""
)

_SUMMARY_SELECT = (
    _PER_TRANSIT
    + """
SELECT CASE WHEN grouping(route_code) = 0 THEN 'route' WHEN grouping(channel) = 0 THEN 'channel' ELSE 'all' END
           AS grouping,
       CASE WHEN grouping(route_code) = 0 THEN route_code WHEN grouping(channel) = 0 THEN channel END AS key,
       count(*) AS transits,
       count(transit_time_s) AS arrived,
       count(*) FILTER (WHERE transit_time_s > time_limit_s) AS late,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY transit_time_s) AS transit_time_s_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY transit_time_s) AS transit_time_s_p90,
       count(border_control_s) AS border_measured,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY border_control_s) AS border_control_s_median,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY border_control_s) AS border_control_s_p90,
       avg(time_limit_s) AS time_limit_s_avg
FROM per
GROUP BY GROUPING SETS ((route_code), (channel), ())
ORDER BY 1, 2"""
)


def _params(f: TrsFilter) -> dict[str, Any]:
    return {"start": f.start, "end": f.end, "route": f.route, "channel": f.channel, "transit": f.transit_id}


async def per_transit(conn: AsyncConn, f: TrsFilter) -> list[dict[str, Any]]:
    """TRS figures of every transit the filter selects, oldest release first."""
    cur = await conn.execute(_PER_TRANSIT_SELECT.encode(), _params(f))
    return [dict(r) for r in await cur.fetchall()]


async def transit(conn: AsyncConn, transit_id: str) -> dict[str, Any] | None:
    rows = await per_transit(conn, TrsFilter(transit_id=transit_id))
    return rows[0] if rows else None


async def summary(conn: AsyncConn, f: TrsFilter) -> dict[str, Any]:
    """Distributions (median, p90) per route, per channel and overall."""
    cur = await conn.execute(_SUMMARY_SELECT.encode(), _params(f))
    rows = [dict(r) for r in await cur.fetchall()]
    out: dict[str, Any] = {"by_route": [], "by_channel": [], "overall": None}
    for r in rows:
        group = r.pop("grouping")
        if group == "all":
            r.pop("key")
            out["overall"] = r
        else:
            out[f"by_{group}"].append(r)
    return out


def chart_png(rows: list[dict[str, Any]], title: str = "Time Release Study") -> bytes:
    """Box plots of transit time per route (with each route's time limit) and border control time per
    channel, as a PNG. CPU-bound: call it in a worker thread."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    by_route: dict[str, list[float]] = {}
    limits: dict[str, float] = {}
    by_channel: dict[str, list[float]] = {}
    for r in rows:
        route = r["route_code"] or "ad hoc"
        if r["transit_time_s"] is not None:
            by_route.setdefault(route, []).append(r["transit_time_s"] / 3600)
            limits[route] = max(limits.get(route, 0.0), r["time_limit_s"] / 3600)
        if r["border_control_s"] is not None:
            by_channel.setdefault(r["channel"], []).append(r["border_control_s"] / 60)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    fig.suptitle(title)
    if by_route:
        names = sorted(by_route)
        ax1.boxplot([by_route[n] for n in names], tick_labels=names, showfliers=True)
        for i, n in enumerate(names, start=1):
            ax1.hlines(limits[n], i - 0.4, i + 0.4, colors="#c0392b", linestyles="dashed")
        ax1.tick_params(axis="x", rotation=30)
    else:
        ax1.text(0.5, 0.5, "no arrived transits", ha="center", va="center", transform=ax1.transAxes)
    ax1.set_title("Transit time (release → arrival) per route; dashed: limit")
    ax1.set_ylabel("hours")
    order = [c for c in ("green", "blue", "yellow", "red") if c in by_channel] + sorted(
        c for c in by_channel if c not in ("green", "blue", "yellow", "red")
    )
    if order:
        ax2.boxplot([by_channel[c] for c in order], tick_labels=order, showfliers=True)
    else:
        ax2.text(0.5, 0.5, "no border crossings measured", ha="center", va="center", transform=ax2.transAxes)
    ax2.set_title("Border control time per channel")
    ax2.set_ylabel("minutes")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    log.debug("trs chart rendered", transits=len(rows), bytes=buf.tell())
    return buf.getvalue()
