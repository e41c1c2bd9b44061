"""Late fixes: a backlog judged again in its own time order.

A seal out of coverage keeps fixing and buffering; back in coverage it often sends its current
position first and the backlog a moment later. The live engine drops fixes older than the seal's
last accepted one (its state has moved on), so a backlog would never be judged. Instead, a seal
that receives late fixes is judged again from storage: a fresh engine with the same transit and
zones runs over the seal's stored fixes (the judging window) in time order, which is what in-order
delivery would have produced. What that run finds after ``since`` (the last plausible fix before the
earliest late one: a crossing between two fixes is interpolated in that interval) replaces what the live
engine had found there, and the live engine continues from the fresh engine's state, which ends at
the same newest fix: nothing moves backward, and later fixes are judged as in-order delivery
would judge them. The live path stays vectorized; this path runs only for seals with late fixes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geofence.engine import Engine
from geofence.model import Observation
from sealwatch.fixes import FixBatch, FixRecord


@dataclass(slots=True)
class Rejudged:
    """One seal judged again in time order."""

    seal_id: str
    transit_id: str
    late_t: float  # the earliest late fix
    since: float  # observations after this time were judged again (-inf: the whole window)
    records: list[FixRecord]  # the seal's stored fixes in the window, in time order
    observations: list[Observation]  # everything in-order delivery of ``records`` yields
    new: list[Observation]  # observations after ``since`` the live engine had not made

    def replaced(self) -> list[Observation]:
        """The observations that stand for the interval after ``since``."""
        return [o for o in self.observations if o.t > self.since]


def in_time_order(records: list[FixRecord]) -> list[FixRecord]:
    # Stored order: equal times keep the lower sequence number (what the seal sent first).
    return sorted(records, key=lambda r: (r.t, r.seq))


def rejudge(
    live: Engine, seal_id: str, records: list[FixRecord], late_t: float, window_start: float = -math.inf
) -> tuple[Rejudged, Engine] | None:
    """Run a fresh engine over the seal's stored ``records`` (those from ``window_start`` on);
    None when the seal has no transit."""
    spec = live.transit_of(seal_id)
    if spec is None:
        return None
    fresh = Engine(live.config)
    fresh.set_zones(live.zone_specs)
    fresh.set_transits([spec])
    ordered = in_time_order([r for r in records if r.seal_id == seal_id and r.t.timestamp() >= window_start])
    observations = fresh.process(FixBatch.from_records(ordered)) if ordered else []
    # A crossing is interpolated from the seal's last plausible fix: a GPS jump just before the late
    # fix starts no segment, so the replaced interval begins at the plausible fix before it.
    jumps = {o.t for o in observations if o.kind == "jump"}
    before = [r.t.timestamp() for r in ordered if r.t.timestamp() < late_t and r.t.timestamp() not in jumps]
    since = max(before) if before else window_start
    return Rejudged(seal_id, spec.transit_id, late_t, since, ordered, observations, []), fresh
