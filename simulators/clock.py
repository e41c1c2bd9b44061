"""Simulated time: starts ``start_ago_s`` in the past and runs ``speedup`` times faster than the
wall clock until it has caught up, then runs in real time.

Fix timestamps therefore never lie in the future (ingest would reject them), while a test or
demo can still replay an hour of driving in a few minutes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class SimClock:
    start_ago_s: float = 0.0
    speedup: float = 1.0
    wall_start: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.speedup < 1.0:
            raise ValueError("speedup must be >= 1")
        if self.start_ago_s < 0:
            raise ValueError("start_ago_s must be >= 0")

    def at(self, wall: float) -> float:
        """Simulated epoch seconds at wall-clock epoch seconds ``wall``."""
        return min(wall, self.wall_start - self.start_ago_s + (wall - self.wall_start) * self.speedup)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.at(time.time()), UTC)
