"""Field-truth scenarios: road-like traces along the shipped routes, with ground truth.

Independent of ``simulators``: its own motion model, noise and radio. Each transit drives its
route's current line (from the origin office to the destination office) along a road that wanders
a few hundred metres around the line, at its own cruise speed, and stops the way trucks stop:
border queues in the queue areas, fuel stops at fuel stations, short halts, AETR rest breaks after
4.5 h of driving, and traffic jams several trucks stand in together. Its seal reports every 30 to
120 s with GPS noise and occasional multipath outliers; coverage gaps buffer fixes that are flushed
when coverage returns, the backlog first or the live fix first; some messages come twice or swap
places with the next one.

Violations are injected with ground-truth start times: route deviation, unauthorized stop,
opening, tamper, low battery, GPS jump, restricted zone (a zone the bench adds next to the road),
signal lost (the seal falls silent) and overdue (a deadline before the truck can arrive); all but
the last two are made in coverage or entirely inside a coverage gap (in either flush order).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from geofence.projection import point_to_lonlat, to_metric

FloatArray = npt.NDArray[np.float64]

STEP_S = 10.0  # motion is integrated at this resolution
KINDS = (
    "deviation",
    "stop",
    "opening",
    "tamper",
    "battery",
    "jump",
    "restricted_zone",
    "signal_lost",
    "overdue",
)
ALERT_OF = {
    "deviation": "route_deviation",
    "stop": "unauthorized_stop",
    "opening": "seal_opened",
    "tamper": "seal_tampered",
    "battery": "low_battery",
    "jump": "gps_jump",
    "restricted_zone": "restricted_zone",
    "signal_lost": "signal_lost",
    "overdue": "overdue",
}
OUT_OF_COVERAGE = ("deviation", "stop", "opening", "tamper", "battery", "jump", "restricted_zone")


@dataclass(slots=True)
class Area:
    code: str
    purpose: str
    along_m: float
    lat: float
    lon: float


@dataclass(slots=True)
class Road:
    """A route's current line in the metric CRS, with the widths of its corridor."""

    code: str
    x: FloatArray
    y: FloatArray
    cum: FloatArray  # distance along the line at each vertex
    widths: FloatArray  # per segment
    tolerance_s: float
    areas: list[Area] = field(default_factory=list)

    @classmethod
    def of(cls, code: str, lonlat: list[tuple[float, float]], widths: list[float], tolerance_s: float) -> Road:
        x, y = to_metric(np.asarray([p[0] for p in lonlat]), np.asarray([p[1] for p in lonlat]))
        seg = np.hypot(np.diff(x), np.diff(y))
        return cls(code, x, y, np.concatenate([[0.0], np.cumsum(seg)]), np.asarray(widths, dtype=float), tolerance_s)

    @property
    def length(self) -> float:
        return float(self.cum[-1])

    def frame(self, along: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Point on the line, unit normal, and the corridor width at each ``along``."""
        a = np.clip(along, 0.0, self.length)
        i = np.clip(np.searchsorted(self.cum, a, side="right") - 1, 0, len(self.x) - 2)
        seg = self.cum[i + 1] - self.cum[i]
        f = np.where(seg > 0, (a - self.cum[i]) / np.where(seg > 0, seg, 1.0), 0.0)
        dx, dy = self.x[i + 1] - self.x[i], self.y[i + 1] - self.y[i]
        norm = np.hypot(dx, dy)
        norm = np.where(norm > 0, norm, 1.0)
        return self.x[i] + f * dx, self.y[i] + f * dy, -dy / norm, dx / norm, self.widths[i]

    def project(self, lon: float, lat: float) -> tuple[float, float]:
        """(along, lateral distance) of a point."""
        px, py = to_metric(np.asarray([lon]), np.asarray([lat]))
        return self.project_xy(float(px[0]), float(py[0]))

    def project_xy(self, px: float, py: float) -> tuple[float, float]:
        best = (0.0, math.inf)
        for i in range(len(self.x) - 1):
            dx, dy = self.x[i + 1] - self.x[i], self.y[i + 1] - self.y[i]
            seg2 = dx * dx + dy * dy
            f = 0.0 if seg2 == 0 else max(0.0, min(1.0, ((px - self.x[i]) * dx + (py - self.y[i]) * dy) / seg2))
            d = math.hypot(self.x[i] + f * dx - px, self.y[i] + f * dy - py)
            if d < best[1]:
                best = (float(self.cum[i] + f * math.sqrt(seg2)), d)
        return best


@dataclass(slots=True)
class Violation:
    kind: str
    transit_id: str
    seal_id: str
    start: float  # ground truth: when it began (epoch seconds, simulated)
    end: float  # when it ended (start for an instant)
    covered: str  # "in coverage", or the flush order of the gap it was made in
    zone: str = ""  # restricted_zone: the zone the bench made for it


@dataclass(slots=True)
class Gap:
    start: float
    end: float
    order: str  # "backlog first" | "live first" | "silent" (no backlog: the seal was not fixing)
    delay_s: float = 0.0  # live first: how long after the live fix the backlog follows


@dataclass(slots=True)
class Plan:
    """One transit: what it does, second by second (``STEP_S``), and what its seal sends."""

    transit_id: str
    seal_id: str
    road: Road
    released_at: float
    deadline: float
    t: FloatArray = field(default_factory=lambda: np.empty(0))
    along: FloatArray = field(default_factory=lambda: np.empty(0))
    offset: FloatArray = field(default_factory=lambda: np.empty(0))
    speed: FloatArray = field(default_factory=lambda: np.empty(0))
    state: list[str] = field(default_factory=list)
    battery: FloatArray = field(default_factory=lambda: np.empty(0))
    dx: FloatArray = field(default_factory=lambda: np.empty(0))  # a detour off the road, metres
    dy: FloatArray = field(default_factory=lambda: np.empty(0))
    jump_at: float | None = None
    gaps: list[Gap] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    stops: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, why) tolerated
    interval_s: float = 60.0

    @property
    def hours(self) -> float:
        return (float(self.t[-1]) - self.released_at) / 3600 if self.t.size else 0.0


@dataclass(slots=True)
class Message:
    at: float  # simulated publish time
    seal_id: str
    fixes: list[dict[str, object]]


@dataclass(slots=True)
class Zone:
    code: str
    lon: float
    lat: float
    radius_m: float


class Track:
    """The truck's motion, built forward in ``STEP_S`` steps."""

    def __init__(self, road: Road, t: float, rng: random.Random) -> None:
        self.road, self.t, self.a, self.state = road, t, 0.0, "closed"
        self.t0 = t  # the release: the motion depends on time since it, never on the wall clock
        self.ts: list[float] = []
        self.al: list[float] = []
        self.off: list[float] = []
        self.sp: list[float] = []
        self.st: list[str] = []
        self.dx: list[float] = []
        self.dy: list[float] = []
        self.detour = (0.0, 0.0)  # off the road, in a fixed direction (no jumps at the line's corners)
        self.driven = 0.0  # since the last AETR break
        phases = [rng.uniform(0, 2 * math.pi) for _ in range(3)]
        amps = [rng.uniform(60, 160), rng.uniform(30, 90), rng.uniform(10, 30)]
        waves = [rng.uniform(4000, 9000), rng.uniform(1500, 3000), rng.uniform(400, 900)]
        self._wave = list(zip(amps, waves, phases, strict=True))

    def meander(self, a: float) -> float:
        """The road's offset from the route line: a road is not the straight line between towns."""
        taper = max(0.0, min(1.0, a / 3000, (self.road.length - a) / 3000))
        return taper * sum(am * math.sin(2 * math.pi * a / w + p) for am, w, p in self._wave)

    def _push(self, speed_ms: float, lateral: float) -> None:
        self.ts.append(self.t)
        self.al.append(self.a)
        self.off.append(lateral)
        self.sp.append(speed_ms * 3.6)
        self.st.append(self.state)
        self.dx.append(self.detour[0])
        self.dy.append(self.detour[1])

    def position(self, k: int = -1) -> tuple[float, float]:
        """Metric position of step ``k``."""
        x0, y0, nx, ny, _ = self.road.frame(np.asarray([self.al[k]]))
        return float(x0[0] + nx[0] * self.off[k] + self.dx[k]), float(y0[0] + ny[0] * self.off[k] + self.dy[k])

    def normal(self) -> tuple[float, float]:
        _, _, nx, ny, _ = self.road.frame(np.asarray([self.a]))
        return float(nx[0]), float(ny[0])

    def drive(self, v: float, seconds: float) -> None:
        """Drive at ``v`` m/s along the road (plus the current detour)."""
        end = self.t + seconds
        while self.t < end and self.a < self.road.length:
            self._push(v, self.meander(self.a))
            self.t += STEP_S
            self.a += v * STEP_S
            self.driven += STEP_S

    def stand(self, seconds: float, lateral: float | None = None) -> None:
        end = self.t + seconds
        where = self.meander(self.a) + 2.5 if lateral is None else lateral
        while self.t < end:
            self._push(0.0, where)
            self.t += STEP_S


class Builder:
    """Plans the transits of one run (deterministic for a seed)."""

    def __init__(self, roads: list[Road], start: float, seed: int) -> None:
        self.roads = roads
        self.start = start
        self.rng = random.Random(seed)
        self.zones: list[Zone] = []
        self.plans: list[Plan] = []
        self.jams: list[tuple[float, float, float, float]] = []  # x, y, from, until: where trucks stand
        self._gap_order = 0

    def build(self, n: int, kinds: list[str] | None = None) -> list[Plan]:
        """``n`` transits, about 40 % with a violation (each kind in turn, in coverage, backlog
        first, live first), unless ``kinds`` names the violations."""
        rng = self.rng
        if kinds is None:
            kinds = [KINDS[i % len(KINDS)] for i in range(int(n * 0.4))]
            rng.shuffle(kinds)
        jam_groups = max(1, n // 40)
        jam_members = min(n, 4 * jam_groups)
        violation: list[str | None] = [None] * jam_members + kinds + [None] * (n - jam_members - len(kinds))
        covered_order = {k: 0 for k in OUT_OF_COVERAGE}
        jam_ends: dict[int, float] = {}
        for i in range(n):
            road = self.roads[i % len(self.roads)]
            jam: tuple[float, float] | None = None
            if i < jam_members:  # four trucks on one route minutes apart, a jam ahead of them
                g, k = divmod(i, 4)
                road = self.roads[g % len(self.roads)]
                released = self.start + 600 + g * 1800 + k * 240
                jam_start = self.start + 600 + g * 1800 + 3600 * 1.2
                # One jam clears for all of them: the head first, each truck behind half a minute
                # later (drawn for every truck, so the seed's other choices stay what they were).
                end = jam_ends.setdefault(g, jam_start + rng.uniform(50 * 60, 75 * 60))
                jam = (jam_start, end + 30 * k)
                if k == 0:  # from the first truck's release (it may stand there early) until the last leaves
                    x, y, *_ = road.frame(np.asarray([_jam_along(road)]))
                    self.jams.append((float(x[0]), float(y[0]), released, end + 30 * 3 + 900))
            else:
                released = self.start + rng.uniform(0, 2 * 3600)
            kind = violation[i]
            gap_order = None
            if kind in OUT_OF_COVERAGE:
                c = covered_order[kind]
                covered_order[kind] += 1
                gap_order = (None, "backlog first", "live first")[c % 3]
            self.plans.append(self._plan(i, road, released, kind, gap_order, jam))
        return self.plans

    def _plan(
        self,
        i: int,
        road: Road,
        released: float,
        kind: str | None,
        gap_order: str | None,
        jam: tuple[float, float] | None,
    ) -> Plan:
        rng = self.rng
        plan = Plan(f"FT{i:05d}", f"FTS-{i:05d}", road, released, released + 48 * 3600)
        plan.interval_s = rng.choice([30.0, 45.0, 60.0, 90.0, 120.0])
        cruise = 70 / 3.6 if jam else rng.uniform(55, 85) / 3.6
        tr = Track(road, released, rng)
        stops: list[tuple[float, float, str, float | None]] = []  # (along, seconds, why, lateral)
        lateral: float | None
        for area in road.areas:
            lateral = self._lateral(road, area)
            if abs(lateral) > 1200:
                continue
            if area.purpose == "border_queue" and area.along_m < 30_000 and rng.random() < 0.6:
                stops.append((area.along_m, rng.uniform(3600, 4 * 3600), "border queue", lateral))
            elif area.purpose == "fuel_station" and rng.random() < 0.3:
                stops.append((area.along_m, rng.uniform(600, 2400), "fuel", lateral))
            elif area.purpose == "rest_area" and rng.random() < 0.25:
                stops.append((area.along_m, rng.uniform(1800, 3 * 3600), "rest area", lateral))
        for _ in range(rng.randint(0, 3)):  # toll, police check, lights: a few minutes
            stops.append((rng.uniform(5000, road.length - 5000), rng.uniform(60, 420), "halt", None))
        stops.sort(key=lambda s: s[0])
        jam_along = None if jam is None else _jam_along(road)
        if jam_along is not None:  # nothing holds these trucks up before the jam
            stops = [s for s in stops if s[0] > jam_along]
        viol_along = rng.uniform(0.12, 0.35) * road.length if kind not in (None, "overdue") else None
        while tr.a < road.length:
            if stops and tr.a >= stops[0][0]:
                where, seconds, why, lateral = stops.pop(0)
                if tr.driven >= 3.5 * 3600 and why != "halt":  # the break is near: take it here
                    seconds = max(seconds, rng.uniform(45 * 60, 55 * 60))
                if lateral is not None:
                    if tr.a - where > 400:  # passed it while busy elsewhere (a detour, a jam)
                        continue
                    tr.a = where  # pulls in at the area itself (not a step past it)
                plan.stops.append((tr.t, tr.t + seconds, why))
                tr.stand(seconds, lateral)
                if seconds >= 40 * 60:  # long enough to be his break (measured to the moving fix)
                    tr.driven = 0.0
                tr.drive(cruise, 180)  # off again before anything else happens
                continue
            if jam is not None and jam_along is not None and tr.a >= jam_along - 150 * (i % 4):
                jam_along = None
                if tr.t < jam[1]:
                    plan.stops.append((tr.t, jam[1], "jam"))
                    if jam[1] - tr.t >= 45 * 60:  # the driver takes his break standing there
                        tr.driven = 0.0
                    tr.stand(jam[1] - tr.t)
                    tr.drive(cruise, 180)
                continue
            if tr.driven >= 4.5 * 3600 - rng.uniform(0, 600):  # AETR: 45 minutes after 4.5 hours
                seconds = rng.uniform(43 * 60, 45 * 60)
                plan.stops.append((tr.t, tr.t + seconds, "AETR break"))
                tr.stand(seconds)
                tr.driven = 0.0
                tr.drive(cruise, 180)
                continue
            if viol_along is not None and tr.a >= viol_along and kind is not None:
                # Where it begins: three minutes further on. Not in or next to a stop area, an
                # office or a checkpoint; nor a stop where a jam stands (that truck is in the jam,
                # whatever the plan calls it).
                ahead = tr.a + cruise * 180
                if any(abs(a.along_m - ahead) < 4000 for a in road.areas) or (
                    kind == "stop" and self._jammed(tr, ahead)
                ):
                    viol_along = tr.a + 4000
                    continue
                tr.drive(cruise, 180)
                viol_along = None if self._violate(plan, tr, kind, cruise, gap_order) else tr.a + 5000
                continue
            tr.drive(cruise * (1 + 0.08 * math.sin((tr.t - tr.t0) / 600.0)), STEP_S)
        tr.stand(600, 0.0)  # arrived: standing in the destination office
        plan.t, plan.along, plan.offset = np.asarray(tr.ts), np.asarray(tr.al), np.asarray(tr.off)
        plan.speed, plan.state = np.asarray(tr.sp), tr.st
        plan.dx, plan.dy = np.asarray(tr.dx), np.asarray(tr.dy)
        plan.battery = rng.uniform(60, 100) - rng.uniform(0.2, 0.5) / 3600 * (plan.t - released)
        for v in plan.violations:
            if v.kind == "battery":
                low = plan.t >= v.start
                plan.battery[low] = np.minimum(plan.battery[low], rng.uniform(12, 18))
        if kind == "overdue":
            plan.deadline = released + (float(plan.t[-1]) - released) * 0.5
            plan.violations.append(
                Violation("overdue", plan.transit_id, plan.seal_id, plan.deadline, plan.deadline, "in coverage")
            )
        self._coverage(plan)
        return plan

    def _jammed(self, tr: Track, along: float) -> bool:
        """Whether a jam stands within 4 km of ``along`` now or in the next two hours."""
        x, y, *_ = tr.road.frame(np.asarray([along]))
        return any(
            math.hypot(float(x[0]) - jx, float(y[0]) - jy) < 4000 and since <= tr.t + 2 * 3600 and tr.t <= until
            for jx, jy, since, until in self.jams
        )

    def _lateral(self, road: Road, area: Area) -> float:
        x0, y0, nx, ny, _ = road.frame(np.asarray([area.along_m]))
        ax, ay = to_metric(np.asarray([area.lon]), np.asarray([area.lat]))
        return float((ax[0] - x0[0]) * nx[0] + (ay[0] - y0[0]) * ny[0])

    def _violate(self, plan: Plan, tr: Track, kind: str, cruise: float, gap_order: str | None) -> bool:
        """Drive the violation; record its ground truth (and the gap it hides in, if any). False:
        not here (try further on)."""
        rng = self.rng
        covered = gap_order or "in coverage"

        def add(start: float, end: float, zone: str = "") -> None:
            plan.violations.append(Violation(kind, plan.transit_id, plan.seal_id, start, end, covered, zone))

        if kind == "deviation":
            peak = rng.uniform(3000, 7000) * rng.choice([-1, 1])
            nx, ny = tr.normal()
            ramp = [(k + 1) / 30 for k in range(30)]  # five minutes out, a while away, five back
            profile = ramp + [1.0] * int(rng.uniform(600, 1500) / STEP_S) + ramp[::-1]
            start = out = None
            for f in profile:
                tr.detour = (nx * peak * f, ny * peak * f)
                tr.drive(cruise, STEP_S)
                along, away = tr.road.project_xy(*tr.position())
                _, _, _, _, width = tr.road.frame(np.asarray([along]))
                # Truth: when it is clearly out (the road itself meanders a few hundred metres).
                if start is None and away > float(width[0]) + 300.0:
                    start = tr.ts[-1]
                if out is None and away > float(width[0]):
                    out = tr.ts[-1]
            tr.detour = (0.0, 0.0)
            start = start if start is not None else out
            if start is None:  # folded back into the corridor at a bend: no deviation after all
                return True
            add(start, tr.t)
        elif kind == "stop":
            add(tr.t, tr.t + 1)
            seconds = rng.uniform(55 * 60, 75 * 60)  # longer than any roadside allowance, AETR's too
            tr.stand(seconds)
            tr.driven = 0.0  # whatever else it was, the driver rested
            plan.violations[-1].end = tr.t
        elif kind in ("opening", "tamper"):
            tr.drive(cruise, 60)
            tr.state = "opened" if kind == "opening" else "tampered"
            add(tr.t, tr.t)
            tr.drive(cruise, rng.uniform(300, 900))
            if kind == "opening":
                tr.state = "closed"  # closed again: only the fixes in between show it
        elif kind == "battery":
            tr.drive(cruise, 60)
            add(tr.t, tr.t)
        elif kind == "jump":
            tr.drive(cruise, 120)
            plan.jump_at = tr.t
            add(tr.t, tr.t)
            tr.drive(cruise, 300)
        elif kind == "restricted_zone":
            # A side trip of about a kilometre into a zone next to the road, inside the corridor.
            # Its centre 1150 m from the route line whatever this road's meander: every other
            # truck's road stays 700 m and more from the zone (meander, noise and multipath included).
            nx, ny = tr.normal()
            x0, y0, _, _, _ = tr.road.frame(np.asarray([tr.a + 2 * 60 * cruise * 0.3]))
            sides = [
                side
                for side in (-1, 1)
                if min(r.project_xy(float(x0[0]) + nx * side * 1150, float(y0[0]) + ny * side * 1150)[1]
                       for r in self.roads) > 1050
            ]  # fmt: skip
            if not sides:  # inside a bend, or near another route: a little further on
                return False
            centre = rng.choice(sides) * 1150.0 - tr.meander(tr.a)
            first = len(tr.ts)
            for k in range(18):  # three minutes over to it, five in it, three back
                tr.detour = (nx * centre * (k + 1) / 18, ny * centre * (k + 1) / 18)
                tr.drive(cruise * 0.3, STEP_S)
            tr.stand(300, tr.off[-1])
            cx, cy = tr.position()
            for k in range(18):
                tr.detour = (nx * centre * (1 - (k + 1) / 18), ny * centre * (1 - (k + 1) / 18))
                tr.drive(cruise * 0.3, STEP_S)
            tr.detour = (0.0, 0.0)
            lon, lat = point_to_lonlat(cx, cy)
            code = f"FTZ-{plan.transit_id}"
            self.zones.append(Zone(code, lon, lat, 450.0))
            inside = [k for k in range(first, len(tr.ts)) if math.dist(tr.position(k), (cx, cy)) < 450.0]
            add(tr.ts[inside[0]], tr.ts[inside[-1]], code)
        elif kind == "signal_lost":
            add(tr.t, tr.t)  # from the last fix it sent
            begin = tr.t
            tr.drive(cruise, rng.uniform(25 * 60, 40 * 60))
            plan.gaps.append(Gap(begin, tr.t, "silent"))
            plan.violations[-1].end = tr.t
        if gap_order is not None:
            v = plan.violations[-1]
            pad = rng.uniform(120, 300)
            if kind in ("opening", "tamper", "battery", "jump"):
                tr.drive(cruise, 600)
            # The backlog follows the live fix by more than a publishing step of the run, so the
            # pipeline has judged the live fix before the backlog arrives: it is late, by design.
            plan.gaps.append(Gap(v.start - pad - 60, tr.t + pad, gap_order, rng.uniform(150, 300)))
            tr.drive(cruise, pad + 60)
        return True

    def _coverage(self, plan: Plan) -> None:
        """Ordinary coverage gaps (short, or long with a backlog in either order), away from the
        injected ones."""
        rng = self.rng
        taken = [(g.start - 1800, g.end + 1800) for g in plan.gaps]
        t0, t1 = float(plan.t[0]) + 1800, float(plan.t[-1]) - 3600
        for _ in range(rng.randint(0, 3)):
            if t1 <= t0:
                break
            start = rng.uniform(t0, t1)
            length = rng.choice([rng.uniform(90, 300), rng.uniform(20 * 60, 45 * 60)])
            if any(a < start + length and start < b for a, b in taken):
                continue
            self._gap_order += 1
            order = "backlog first" if self._gap_order % 2 else "live first"
            plan.gaps.append(Gap(start, start + length, order, rng.uniform(20, 180)))
            taken.append((start - 1800, start + length + 1800))
        plan.gaps.sort(key=lambda g: g.start)


def _jam_along(road: Road) -> float:
    return min(road.length * 0.6, 70_000.0)


def fixes_of(plan: Plan, rng: random.Random) -> list[tuple[float, dict[str, object]]]:
    """What the seal fixes (every ``interval_s``, jittered) with GPS noise and multipath outliers."""
    road = plan.road
    times = []
    t = float(plan.t[0])
    while t <= plan.t[-1]:
        times.append(t)
        t += plan.interval_s * rng.uniform(0.9, 1.1)
    ts = np.asarray(times)
    idx = np.clip(np.searchsorted(plan.t, ts, side="right") - 1, 0, plan.t.size - 1)
    along, offset = plan.along[idx], plan.offset[idx]
    x0, y0, nx, ny, _ = road.frame(along)
    x = x0 + nx * offset + plan.dx[idx] + np.asarray([rng.gauss(0, 8) for _ in ts])
    y = y0 + ny * offset + plan.dy[idx] + np.asarray([rng.gauss(0, 8) for _ in ts])
    out = []
    for k, t in enumerate(ts.tolist()):
        px, py = float(x[k]), float(y[k])
        if rng.random() < 0.01:  # multipath: a reflected signal puts the fix a few hundred metres off
            ang = rng.uniform(0, 2 * math.pi)
            r = rng.uniform(80, 300)
            px, py = px + r * math.cos(ang), py + r * math.sin(ang)
        lon, lat = point_to_lonlat(px, py)
        v = float(plan.speed[idx[k]])
        speed = max(0.0, v + rng.gauss(0, 1.5)) if v > 0 else rng.uniform(0, 0.8)
        out.append(
            (
                t,
                {
                    "t": datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z"),
                    "lat": round(lat, 7),
                    "lon": round(lon, 7),
                    "speed_kmh": round(speed, 1),
                    "sats": rng.randint(6, 12),
                    "hdop": round(rng.uniform(0.7, 1.8), 1),
                    "battery_pct": round(float(max(0.0, plan.battery[idx[k]])), 1),
                    "seal_state": plan.state[idx[k]],
                },
            )
        )
    if plan.jump_at is not None:  # one fix tens of kilometres away: spoofing or a bad receiver
        k = int(np.searchsorted(ts, plan.jump_at))
        k = min(k, len(out) - 1)
        t, body = out[k]
        ang = rng.uniform(0, 2 * math.pi)
        x1, y1 = to_metric(np.asarray([body["lon"]], dtype=float), np.asarray([body["lat"]], dtype=float))
        lon, lat = point_to_lonlat(float(x1[0]) + 40_000 * math.cos(ang), float(y1[0]) + 40_000 * math.sin(ang))
        body["lat"], body["lon"] = round(lat, 7), round(lon, 7)
        for jumped in plan.violations:
            if jumped.kind == "jump":
                jumped.start = jumped.end = t
    for seq, (_, body) in enumerate(out):
        body["seq"] = seq
    return out


def messages_of(plan: Plan, rng: random.Random) -> list[Message]:
    """What the seal sends when: live fixes as they are made, gaps buffered and flushed (or lost,
    for a silent seal), some messages twice, some swapped with the next one."""
    fixes = fixes_of(plan, rng)
    out: list[Message] = []
    gaps = list(plan.gaps)
    buffered: list[tuple[float, dict[str, object]]] = []
    gap: Gap | None = None
    for t, body in fixes:
        while gap is None and gaps and t >= gaps[0].start:
            gap = gaps.pop(0)
            if t >= gap.end:
                gap = None
        if gap is not None and t < gap.end:
            if gap.order != "silent":
                buffered.append((t, body))
            continue
        if gap is not None:  # back in coverage with this fix
            if gap.order == "backlog first" and buffered:
                out.append(Message(t, plan.seal_id, [b for _, b in buffered]))
                out.append(Message(t + 0.5, plan.seal_id, [body]))
            elif buffered:
                out.append(Message(t, plan.seal_id, [body]))
                out.append(Message(t + gap.delay_s, plan.seal_id, [b for _, b in buffered]))
            else:
                out.append(Message(t, plan.seal_id, [body]))
            buffered, gap = [], None
            continue
        out.append(Message(t + rng.uniform(0.2, 3.0), plan.seal_id, [body]))
    if buffered:
        out.append(Message(buffered[-1][0] + 60, plan.seal_id, [b for _, b in buffered]))
    extra = []
    for k, m in enumerate(out):
        r = rng.random()
        if r < 0.01:
            extra.append(Message(m.at + rng.uniform(1, 90), m.seal_id, m.fixes))  # delivered twice
        elif r < 0.02 and k + 1 < len(out) and len(m.fixes) == 1 and len(out[k + 1].fixes) == 1:
            m.at, out[k + 1].at = out[k + 1].at, m.at + 0.001  # overtaken by the next one
    out += extra
    out.sort(key=lambda m: m.at)
    return out
