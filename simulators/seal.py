"""One virtual e-seal on a truck: drives its route, drains its battery, records and publishes fixes.

``step`` advances simulated time and returns the messages the seal would send now: usually
one single-fix message; nothing while its signal is lost; the buffered fixes as batch
messages once the signal returns. Sequence numbers start at the wall-clock milliseconds of
the seal's creation so a restarted simulator never reuses one.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime

from sealwatch.wire import MAX_BATCH_FIXES, Fix, SealState
from simulators.faults import Fault, FaultKind
from simulators.path import RoutePath, lateral, offset
from simulators.plans import SealPlan

BATTERY_DRAIN_PCT_PER_H = 0.4
# A truck leaving its road drives away at road speed, not faster: a quicker sideways shift would
# look like a GPS jump (the engine flags implied speeds above ~250 km/h).
DEVIATION_SIDEWAYS_MPS = 15.0
DEVIATION_MIN_RAMP_S = 120.0


@dataclass
class VirtualSeal:
    plan: SealPlan
    path: RoutePath
    seq: int = field(default_factory=lambda: time.time_ns() // 1_000_000)
    elapsed_s: float = 0.0
    distance_m: float = 0.0
    battery_pct: float = 100.0
    buffer: list[Fix] = field(default_factory=list)
    jumped: set[int] = field(default_factory=set)
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_plan(cls, plan: SealPlan, seq_start: int | None = None) -> VirtualSeal:
        path = (
            RoutePath.of_route(plan.route_code)
            if plan.route_line is None
            else RoutePath.of_vertices(plan.route_code, list(plan.route_line))
        )
        seal = cls(plan=plan, path=path, rng=random.Random(plan.seed))
        seal.distance_m = plan.start_m
        seal.battery_pct = plan.battery_pct
        if seq_start is not None:
            seal.seq = seq_start
        return seal

    @property
    def seal_id(self) -> str:
        return self.plan.seal_id

    @property
    def arrived(self) -> bool:
        return self.distance_m >= self.path.length_m

    def _active(self, kind: FaultKind) -> Fault | None:
        return next((f for f in self.plan.faults if f.kind is kind and f.active(self.elapsed_s)), None)

    def _started(self, kind: FaultKind) -> bool:
        return any(f.kind is kind and f.started(self.elapsed_s) for f in self.plan.faults)

    def _speed_kmh(self) -> float:
        if self.arrived or self._active(FaultKind.STOP):
            return 0.0
        return max(5.0, self.rng.gauss(self.plan.speed_kmh, 4.0))

    def _battery(self, dt_s: float) -> float:
        level = self.battery_pct - BATTERY_DRAIN_PCT_PER_H * dt_s / 3600.0
        for f in self.plan.faults:
            if f.kind is FaultKind.LOW_BATTERY and f.started(self.elapsed_s):
                # Fall linearly from the level at fault start to the target over its duration.
                progress = 1.0 if f.duration <= 0 else min(1.0, (self.elapsed_s - f.at_s) / f.duration)
                level = min(level, self.plan.battery_pct - progress * (self.plan.battery_pct - f.size))
        return max(0.0, level)

    def _seal_state(self) -> SealState:
        if self._started(FaultKind.TAMPER):
            return SealState.TAMPERED
        if self._started(FaultKind.OPENED):
            return SealState.OPENED
        return SealState.CLOSED

    def _lateral_m(self) -> float:
        f = self._active(FaultKind.DEVIATION)
        if f is None:
            return 0.0
        ramp_s = max(DEVIATION_MIN_RAMP_S, f.size / DEVIATION_SIDEWAYS_MPS)
        ramp = min(1.0, (self.elapsed_s - f.at_s) / ramp_s, (f.end_s - self.elapsed_s) / ramp_s)
        return f.size * max(0.0, ramp)

    def _jump_m(self) -> float:
        # A jump is a single displaced fix: the first one at or after the fault's start.
        for i, f in enumerate(self.plan.faults):
            if f.kind is FaultKind.GPS_JUMP and f.started(self.elapsed_s) and i not in self.jumped:
                self.jumped.add(i)
                return f.size
        return 0.0

    def fix(self, now: datetime, dt_s: float) -> Fix:
        """Advance ``dt_s`` seconds of simulated time and record the fix at ``now``."""
        self.elapsed_s += dt_s
        speed = self._speed_kmh()
        self.distance_m = min(self.path.length_m, self.distance_m + speed * dt_s / 3.6)
        pos = self.path.at(self.distance_m)
        hdop = round(self.rng.uniform(0.7, 1.6), 1)
        # A jump goes sideways so it lands well outside the corridor, as spoofed positions do.
        east, north = lateral(pos.heading_deg, self._lateral_m() + self._jump_m())
        east += self.rng.gauss(0.0, 2.5 * hdop)
        north += self.rng.gauss(0.0, 2.5 * hdop)
        lon, lat = offset(pos.lon, pos.lat, east, north)
        self.battery_pct = self._battery(dt_s)
        fix = Fix(
            seq=self.seq,
            t=now,
            lat=round(lat, 6),
            lon=round(lon, 6),
            speed_kmh=round(speed, 1),
            heading_deg=round(pos.heading_deg, 1) % 360.0,
            sats=self.rng.randint(6, 12),
            hdop=hdop,
            battery_pct=round(self.battery_pct, 1),
            seal_state=self._seal_state(),
        )
        self.seq += 1
        return fix

    def step(self, now: datetime, dt_s: float) -> list[list[Fix]]:
        """The messages to publish now: each a list of fixes (one fix = a single-fix message)."""
        fix = self.fix(now, dt_s)
        if self._active(FaultKind.SIGNAL_LOSS):
            self.buffer.append(fix)
            return []
        if not self.buffer:
            return [[fix]]
        pending, self.buffer = [*self.buffer, fix], []
        return [pending[i : i + MAX_BATCH_FIXES] for i in range(0, len(pending), MAX_BATCH_FIXES)]
