"""The geofence engine: one call per batch of fixes, every check vectorized over the batch.

``Engine.process`` sorts the batch by (seal slot, t), drops stale and duplicate fixes, and then runs
the checks as numpy array programs over the sorted batch; per-seal state between batches lives in
:class:`~geofence.state.SealStates`. The semantics are those of the per-fix reference
(``tests/geofence/reference.py``), restated here:

* stale (t <= the seal's last accepted t) and duplicate (same seal and t in the batch; the first in
  batch order is kept) fixes are dropped and counted, as are fixes of seals without a transit;
* a fix whose implied speed from the seal's last *plausible* fix exceeds ``jump_max_kmh`` (and
  that lies more than ``jump_min_m`` away from it) is a
  ``jump``: it is reported, advances the seal's last accepted t, and is otherwise ignored (it is not
  a plausible fix, so the next fix's implied speed is measured from the fix before it);
* corridor, zone, stop and arrival checks run on plausible fixes only (see ``geofence.model``).

Because "plausible" depends on earlier decisions, jumps are solved by fixed-point iteration: assume
no jumps, compute each fix's reference fix, flag jumps, recompute references, until stable. Each
round fixes at least the next fix of every seal, and in practice one or two rounds suffice.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from geofence.corridors import CorridorIndex
from geofence.model import EngineConfig, Observation, ObservationKind, TransitSpec, ZoneSpec
from geofence.projection import to_lonlat, to_metric
from geofence.runs import latest_marked, runs, segment_ends, segment_first, segment_starts
from geofence.slots import SlotIndex
from geofence.state import SealStates
from geofence.zones import ZoneIndex, sorted_contains
from sealwatch.fixes import FixBatch
from sealwatch.logging import get_logger

log = get_logger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_EMPTY_I = np.empty(0, dtype=np.int64)
_SORT_KEY = attrgetter("seal_id", "t", "kind", "zone_code")  # same order as Observation.sort_key


@dataclass(slots=True)
class EngineStats:
    """Running counters since the engine was created."""

    batches: int = 0
    fixes: int = 0
    processed: int = 0  # accepted fixes (jumps included)
    unknown: int = 0  # seal without an active transit
    invalid: int = 0  # non-finite lat/lon
    duplicate: int = 0
    stale: int = 0
    jumps: int = 0
    observations: int = 0


class _Out:
    """Collects emitted observations, one object per observation, built with C-level ``map``."""

    def __init__(self, engine: Engine) -> None:
        self.items: list[Observation] = []
        self.seal_ids = engine._seal_ids
        self.transit_ids = engine._transit_ids

    def add(
        self,
        kind: ObservationKind,
        slot: IntArray,
        t: FloatArray,
        lat: FloatArray,
        lon: FloatArray,
        zone: list[str] | None = None,
        **evidence: list[Any],
    ) -> None:
        n = slot.shape[0]
        if not n:
            return
        sl = slot.tolist()
        evs: Any
        if len(evidence) == 1:  # zone events, the bulk: a dict display is ~10x cheaper than dict(zip())
            ((key, values),) = evidence.items()
            evs = [{key: v} for v in values]
        elif evidence:
            keys = tuple(evidence)
            evs = map(dict, map(zip, repeat(keys, n), zip(*evidence.values(), strict=True)))
        else:
            evs = [{} for _ in sl]
        self.items.extend(
            map(
                Observation,
                map(self.seal_ids.__getitem__, sl),
                map(self.transit_ids.__getitem__, sl),
                repeat(kind, n),
                t.tolist(),
                lat.tolist(),
                lon.tolist(),
                zone if zone is not None else repeat("", n),
                evs,
            )
        )


class Engine:
    """Vectorized geofence checks over batches of fixes for the active transits and zones."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.stats = EngineStats()
        self._transits: list[TransitSpec] = []
        self._slots = SlotIndex([])
        self._seal_ids: list[str] = []
        self._transit_ids: list[str] = []
        self._slot_of_transit: dict[str, int] | None = None
        self._corridors = CorridorIndex([], [])
        self._zones = ZoneIndex([])
        self._zone_specs: list[ZoneSpec] = []
        self._state = SealStates.empty(0, 0)
        self._dest: IntArray = _EMPTY_I
        self._deadline: FloatArray = np.empty(0)

    # ----------------------------------------------------------------------------- configuration

    @property
    def transit_count(self) -> int:
        return len(self._transits)

    def set_transits(self, transits: list[TransitSpec]) -> None:
        """Replace the active transits; state is kept for seals whose transit is unchanged in id."""
        slot_of: dict[str, int] = {}
        for i, tr in enumerate(transits):
            if tr.seal_id in slot_of:
                raise ValueError(f"seal {tr.seal_id} has two active transits")
            slot_of[tr.seal_id] = i
        dst: list[int] = []
        src: list[int] = []
        for i, tr in enumerate(transits):
            old = self._slots.get(tr.seal_id)
            if old is not None and self._transits[old].transit_id == tr.transit_id:
                dst.append(i)
                src.append(old)
        state = SealStates.empty(len(transits), len(self._zones))
        state.copy_rows(self._state, np.asarray(dst, dtype=np.int64), np.asarray(src, dtype=np.int64))
        self._corridors = CorridorIndex(_project_routes(transits), [tr.widths for tr in transits])
        self._transits = list(transits)
        self._slots = SlotIndex([tr.seal_id for tr in transits])
        self._seal_ids = [tr.seal_id for tr in transits]
        self._transit_ids = [tr.transit_id for tr in transits]
        self._slot_of_transit = None
        self._deadline = np.asarray([np.nan if tr.deadline is None else tr.deadline for tr in transits], dtype=float)
        self._state = state
        self._resolve_destinations()
        log.info("geofence transits set", transits=len(transits), kept_state=len(dst))

    def set_zones(self, zones: list[ZoneSpec]) -> None:
        """Replace the zones; seals stay "inside" zones that keep their code (no spurious exits)."""
        index = ZoneIndex(zones)
        old_to_new = np.asarray([index.index_of.get(c, -1) for c in self._zones.codes], dtype=np.int64)
        self._state.remap_zones(old_to_new, len(index))
        self._zones = index
        self._zone_specs = list(zones)
        self._resolve_destinations()
        log.info("geofence zones set", zones=len(zones))

    def _resolve_destinations(self) -> None:
        idx = self._zones.index_of
        missing = {
            tr.destination_zone for tr in self._transits if tr.destination_zone and tr.destination_zone not in idx
        }
        if missing and len(idx):
            log.warning("destination zones not defined; arrival cannot be seen", zones=sorted(missing)[:20])
        self._dest = np.asarray(
            [idx.get(tr.destination_zone, -1) if tr.destination_zone else -1 for tr in self._transits], dtype=np.int64
        )

    def corridor_polygon(self, transit_id: str) -> Any:
        """The buffered corridor of a transit (metric CRS shapely polygon), for maps and comparison."""
        if self._slot_of_transit is None:  # built on first use: the hot path never needs it
            self._slot_of_transit = {tid: i for i, tid in enumerate(self._transit_ids)}
        return self._corridors.buffer(self._slot_of_transit[transit_id])

    def state_nbytes(self) -> int:
        return self._state.nbytes()

    # ------------------------------------------------------------------------------ late fixes

    @property
    def zone_specs(self) -> list[ZoneSpec]:
        return list(self._zone_specs)

    def transit_of(self, seal_id: str) -> TransitSpec | None:
        slot = self._slots.get(seal_id)
        return None if slot is None else self._transits[slot]

    def last_t(self, seal_id: str) -> float:
        """The seal's last accepted fix time (-inf: none, or no transit)."""
        slot = self._slots.get(seal_id)
        return -np.inf if slot is None else float(self._state.last_t[slot])

    def late_fixes(self, batch: FixBatch) -> dict[str, float]:
        """Seals with fixes at or before their last accepted time (``process`` drops them as stale),
        each with the earliest such time: a backlog that arrived after a later fix."""
        if not len(batch):
            return {}
        slot = self._slots.lookup(batch.seal_id)
        known = slot >= 0
        late = np.zeros(slot.shape[0], dtype=bool)
        late[known] = batch.t[known] <= self._state.last_t[slot[known]]
        out: dict[str, float] = {}
        for seal_id, t in zip(batch.seal_id[late].tolist(), batch.t[late].tolist(), strict=True):
            out[seal_id] = min(t, out.get(seal_id, t))
        return out

    def adopt(self, other: Engine, seal_ids: list[str]) -> None:
        """Take the per-seal state of ``other`` (same zones) for these seals: after a backlog is
        judged again in time order, the seal continues from the state in-order delivery gives."""
        dst = [self._slots.get(s) for s in seal_ids]
        src = [other._slots.get(s) for s in seal_ids]
        pairs = [(d, s) for d, s in zip(dst, src, strict=True) if d is not None and s is not None]
        if pairs:
            d_rows, s_rows = (np.asarray(v, dtype=np.int64) for v in zip(*pairs, strict=True))
            self._state.copy_rows(other._state, d_rows, s_rows)

    # ----------------------------------------------------------------------------------- process

    def process(self, batch: FixBatch) -> list[Observation]:
        """Run every check on a batch; returns observations sorted by (seal_id, t, kind, zone_code)."""
        n = len(batch)
        self.stats.batches += 1
        self.stats.fixes += n
        if n == 0:
            return []
        st = self._state
        slot_all = self._slots.lookup(batch.seal_id)
        known = slot_all >= 0
        valid = known & np.isfinite(batch.lat) & np.isfinite(batch.lon)
        n_known = int(np.count_nonzero(known))
        idx = np.flatnonzero(valid)
        self.stats.unknown += n - n_known
        self.stats.invalid += n_known - idx.shape[0]

        # Sort by (slot, t); lexsort is stable so equal times keep batch order ("keep the first").
        t_raw = batch.t[idx]
        s_raw = slot_all[idx]
        order = np.lexsort((t_raw, s_raw))
        idx, s, t = idx[order], s_raw[order], t_raw[order]
        dup = np.zeros(idx.shape[0], dtype=bool)
        if idx.shape[0] > 1:
            dup[1:] = (s[1:] == s[:-1]) & (t[1:] == t[:-1])
        stale = ~dup & (t <= st.last_t[s])
        keep = ~dup & ~stale
        self.stats.duplicate += int(np.count_nonzero(dup))
        self.stats.stale += int(np.count_nonzero(stale))
        idx, s, t = idx[keep], s[keep], t[keep]
        if not idx.shape[0]:
            return []
        self.stats.processed += idx.shape[0]

        starts = segment_starts(s)
        ends = segment_ends(starts)
        st.last_t[s[ends]] = t[ends]
        lat, lon = batch.lat[idx], batch.lon[idx]
        x, y = to_metric(lon, lat)
        out = _Out(self)

        plausible, rx, ry, rt, implied = self._jumps(s, t, x, y, starts, lat, lon, out)

        # From here on only plausible fixes; r* is each fix's previous plausible fix (NaN: none).
        p = np.flatnonzero(plausible)
        s, t, x, y, lat, lon = s[p], t[p], x[p], y[p], lat[p], lon[p]
        rx, ry, rt, implied = rx[p], ry[p], rt[p], implied[p]
        speed = batch.speed_kmh[idx[p]]
        starts = segment_starts(s)
        first = segment_first(starts)
        ends = segment_ends(starts)
        seal_end = s[ends]

        self._corridor(s, t, x, y, lat, lon, starts, first, ends, out)
        pf, pz = self._zone_checks(s, t, x, y, lat, lon, rx, ry, rt, starts, ends, out)
        moved = np.hypot(x - rx, y - ry) > self.config.stop_moved_m  # NaN (no previous fix): False
        self._stops(s, t, lat, lon, speed, implied, moved, starts, first, ends, pf, pz, out)
        self._arrival(s, t, lat, lon, pf, pz, out)

        st.px[seal_end], st.py[seal_end], st.pt[seal_end] = x[ends], y[ends], t[ends]
        st.plat[seal_end], st.plon[seal_end] = lat[ends], lon[ends]

        out.items.sort(key=_SORT_KEY)
        self.stats.observations += len(out.items)
        return out.items

    def _jumps(
        self,
        s: IntArray,
        t: FloatArray,
        x: FloatArray,
        y: FloatArray,
        starts: BoolArray,
        lat: FloatArray,
        lon: FloatArray,
        out: _Out,
    ) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Flag jumps; return the plausible mask and each fix's reference (previous plausible) fix."""
        st = self._state
        first = segment_first(starts)
        sx, sy, stt = st.px[s], st.py[s], st.pt[s]
        jump = np.zeros(s.shape[0], dtype=bool)
        for _ in range(s.shape[0] + 1):  # terminates: round k settles the k-th fix of every seal
            ref = latest_marked(~jump, first, strictly_before=True)
            inb = ref >= 0
            rx = np.where(inb, x[ref], sx)
            ry = np.where(inb, y[ref], sy)
            rt = np.where(inb, t[ref], stt)
            ddx, ddy = x - rx, y - ry
            dist = np.sqrt(ddx * ddx + ddy * ddy)
            implied = dist / (t - rt) * 3.6
            with np.errstate(invalid="ignore"):
                new = (implied > self.config.jump_max_kmh) & (dist > self.config.jump_min_m)
            if np.array_equal(new, jump):
                break
            jump = new
        j = np.flatnonzero(jump)
        if j.size:
            self.stats.jumps += j.size
            rj, inj = ref[j], inb[j]
            out.add(
                "jump",
                s[j],
                t[j],
                lat[j],
                lon[j],
                implied_speed_kmh=implied[j].tolist(),
                distance_m=dist[j].tolist(),
                prev_t=rt[j].tolist(),
                prev_lat=np.where(inj, lat[rj], st.plat[s[j]]).tolist(),
                prev_lon=np.where(inj, lon[rj], st.plon[s[j]]).tolist(),
            )
        return ~jump, rx, ry, rt, implied

    def _corridor(
        self,
        s: IntArray,
        t: FloatArray,
        x: FloatArray,
        y: FloatArray,
        lat: FloatArray,
        lon: FloatArray,
        starts: BoolArray,
        first: IntArray,
        ends: BoolArray,
        out: _Out,
    ) -> None:
        cfg, st = self.config, self._state
        hint = st.seg_hint[s]
        is_out, d = self._corridors.check(s, x, y, hint)
        st.seg_hint[s] = hint
        oc, osince = runs(is_out, starts, t, st.out_count[s], st.out_since[s])
        ic, isince = runs(~is_out, starts, t, st.in_count[s], st.in_since[s])
        q_exit = is_out & (oc >= cfg.exit_min_fixes) & (t - osince >= cfg.exit_min_seconds)
        q_in = ~is_out & (ic >= cfg.reentry_min_fixes)
        q = q_exit | q_in
        # Hysteresis state = kind of the latest qualifying fix; emit where it changes.
        prev_q = latest_marked(q, first, strictly_before=True)
        was_out = np.where(prev_q >= 0, q_exit[prev_q], st.outside[s])
        ex = np.flatnonzero(q_exit & ~was_out)
        re = np.flatnonzero(q_in & was_out)
        d[re] = self._corridors.distance(s[re], x[re], y[re])  # evidence wants the exact distance
        out.add(
            "corridor_exit",
            s[ex],
            t[ex],
            lat[ex],
            lon[ex],
            first_out_t=osince[ex].tolist(),
            distance_m=d[ex].tolist(),
            fixes=oc[ex].tolist(),
        )
        out.add(
            "corridor_reentry",
            s[re],
            t[re],
            lat[re],
            lon[re],
            first_in_t=isince[re].tolist(),
            distance_m=d[re].tolist(),
            fixes=ic[re].tolist(),
        )
        seal = s[ends]
        last_q = latest_marked(q, first, strictly_before=False)[ends]
        st.outside[seal] = np.where(last_q >= 0, q_exit[last_q], st.outside[seal])
        st.out_count[seal], st.out_since[seal] = oc[ends], osince[ends]
        st.in_count[seal], st.in_since[seal] = ic[ends], isince[ends]

    def _zone_checks(
        self,
        s: IntArray,
        t: FloatArray,
        x: FloatArray,
        y: FloatArray,
        lat: FloatArray,
        lon: FloatArray,
        rx: FloatArray,
        ry: FloatArray,
        rt: FloatArray,
        starts: BoolArray,
        ends: BoolArray,
        out: _Out,
    ) -> tuple[IntArray, IntArray]:
        """Zone enter/exit by membership and by crossing; returns the membership pairs (fix, zone)."""
        zones, st = self._zones, self._state
        nz = len(zones)
        if not nz:
            return _EMPTY_I, _EMPTY_I
        m = s.shape[0]
        ix, iy = zones.cells(x, y)
        pf, pz = zones.point_members(x, y, ix, iy)
        cur = pf * nz + pz  # sorted: pairs come sorted by (fix, zone)
        # Membership of each fix's previous plausible fix: the batch's previous fix, or the state row.
        nxt = pf + 1
        shift = nxt < m
        shift[shift] = ~starts[nxt[shift]]
        start_idx = np.flatnonzero(starts)
        rows = st.zones[s[start_idx]]
        in_any = np.flatnonzero(rows.any(axis=1))  # most seals are in no zone: unpack only the others
        bits = np.unpackbits(rows[in_any], axis=1, count=nz, bitorder="little")
        br, bz = np.nonzero(bits)
        prev = np.concatenate([nxt[shift] * nz + pz[shift], start_idx[in_any[br]] * nz + bz.astype(np.int64)])
        prev.sort()
        enter = cur[~sorted_contains(prev, cur)]
        leave = prev[~sorted_contains(cur, prev)]

        # Crossings: segments from each fix's previous plausible fix, skipping zones an end is in.
        # Previous fix's raster cell: the batch neighbour's, or computed for the state's position.
        rix, riy = np.empty_like(ix), np.empty_like(iy)
        rix[1:], riy[1:] = ix[:-1], iy[:-1]
        with np.errstate(invalid="ignore"):  # NaN rt: no previous fix, no segment
            ci = np.flatnonzero(t - rt <= self.config.crossing_max_gap_s)
        from_state = ci[starts[ci]]
        rix[from_state], riy[from_state] = zones.cells(rx[from_state], ry[from_state])
        skip = np.union1d(cur, prev)
        cross_f, cross_z, fmin, fmax = zones.segment_crossings(
            rx[ci], ry[ci], x[ci], y[ci], (rix[ci], riy[ci]), (ix[ci], iy[ci]), ci, skip
        )

        for enter_kind, keys_ in ((True, enter), (False, leave)):
            f, z = keys_ // nz, keys_ % nz
            self._emit_zone(out, enter_kind, s[f], t[f], lat[f], lon[f], z, False)
        if cross_f.size:
            f = cross_f
            ax, ay, at = rx[f], ry[f], rt[f]
            frac = np.concatenate([fmin, fmax])  # one projection call for both ends
            ilon, ilat = to_lonlat(
                np.tile(ax, 2) + frac * np.tile(x[f] - ax, 2), np.tile(ay, 2) + frac * np.tile(y[f] - ay, 2)
            )
            it = np.tile(at, 2) + frac * np.tile(t[f] - at, 2)
            k = f.size
            for enter_kind, sl in ((True, slice(0, k)), (False, slice(k, 2 * k))):
                self._emit_zone(out, enter_kind, s[f], it[sl], ilat[sl], ilon[sl], cross_z, True)

        # State: membership at each seal's last plausible fix.
        st.zones[s[ends]] = 0
        at_end = ends[pf]
        ez = pz[at_end]
        np.bitwise_or.at(st.zones, (s[pf[at_end]], ez >> 3), (1 << (ez & 7)).astype(np.uint8))
        return pf, pz

    def _emit_zone(
        self,
        out: _Out,
        enter: bool,
        slot: IntArray,
        t: FloatArray,
        lat: FloatArray,
        lon: FloatArray,
        zone: IntArray,
        crossed: bool,
    ) -> None:
        if not zone.size:
            return
        codes = [self._zones.codes[z] for z in zone.tolist()]
        kinds = [self._zones.kinds[z] for z in zone.tolist()]
        extra: dict[str, list[Any]] = {"crossed_between": [True] * len(codes)} if crossed else {}
        out.add("zone_enter" if enter else "zone_exit", slot, t, lat, lon, codes, zone_kind=kinds, **extra)
        cp = np.flatnonzero(self._zones.checkpoint[zone])
        if cp.size:
            extra_cp = {k: [v[i] for i in cp.tolist()] for k, v in extra.items()}
            out.add(
                "checkpoint_enter" if enter else "checkpoint_exit",
                slot[cp],
                t[cp],
                lat[cp],
                lon[cp],
                [codes[i] for i in cp.tolist()],
                zone_kind=[kinds[i] for i in cp.tolist()],
                **extra_cp,
            )

    def _stops(
        self,
        s: IntArray,
        t: FloatArray,
        lat: FloatArray,
        lon: FloatArray,
        speed: FloatArray,
        implied: FloatArray,
        moved: BoolArray,
        starts: BoolArray,
        first: IntArray,
        ends: BoolArray,
        pf: IntArray,
        pz: IntArray,
        out: _Out,
    ) -> None:
        cfg, st = self.config, self._state
        v = np.where(np.isfinite(speed), speed, implied)
        with np.errstate(invalid="ignore"):
            slow = v < cfg.stop_speed_kmh  # NaN (no speed at all) counts as moving
        # Slow here, but far from the last fix: it drove in between, a new run begins here.
        moved &= slow
        sc, ssince = runs(slow, starts, t, st.slow_count[s], st.slow_since[s], moved)
        q_stop = slow & (t - ssince >= cfg.stop_min_seconds)
        q_move = ~slow
        q = q_stop | q_move | moved
        prev_q = latest_marked(q, first, strictly_before=True)
        was_stopped = np.where(prev_q >= 0, q_stop[prev_q], st.stopped[s])
        start_emit = q_stop & (~was_stopped | moved)
        end_emit = (q_move | moved) & was_stopped
        authorized = np.zeros(s.shape[0], dtype=bool)
        if pf.size:
            authorized[pf[self._zones.authorized[pz]]] = True
        prev_start = latest_marked(start_emit, first, strictly_before=True)
        has = prev_start >= 0
        started_at = np.where(has, ssince[prev_start], st.stop_started_at[s])
        auth_at = np.where(has, authorized[prev_start], st.stop_authorized[s])

        a = np.flatnonzero(start_emit)
        out.add(
            "stop_start", s[a], t[a], lat[a], lon[a], started_at=ssince[a].tolist(), authorized=authorized[a].tolist()
        )
        e = np.flatnonzero(end_emit)
        out.add(
            "stop_end",
            s[e],
            t[e],
            lat[e],
            lon[e],
            started_at=started_at[e].tolist(),
            duration_s=(t[e] - started_at[e]).tolist(),
            authorized=auth_at[e].tolist(),
        )

        seal = s[ends]
        last_q = latest_marked(q, first, strictly_before=False)[ends]
        st.stopped[seal] = np.where(last_q >= 0, q_stop[last_q], st.stopped[seal])
        st.slow_count[seal], st.slow_since[seal] = sc[ends], ssince[ends]
        last_start = latest_marked(start_emit, first, strictly_before=False)[ends]
        got = last_start >= 0
        st.stop_started_at[seal[got]] = ssince[last_start[got]]
        st.stop_authorized[seal[got]] = authorized[last_start[got]]

    def _arrival(
        self, s: IntArray, t: FloatArray, lat: FloatArray, lon: FloatArray, pf: IntArray, pz: IntArray, out: _Out
    ) -> None:
        if not pf.size:
            return
        st = self._state
        fs = s[pf]
        hit = (pz == self._dest[fs]) & ~st.arrived[fs]
        if not hit.any():
            return
        hf = pf[hit]
        _, firsts = np.unique(s[hf], return_index=True)  # pairs are fix-sorted: first per seal
        f = hf[firsts]
        seal = s[f]
        st.arrived[seal] = True
        deadline = self._deadline[seal]
        out.add(
            "arrival",
            seal,
            t[f],
            lat[f],
            lon[f],
            [self._zones.codes[z] for z in self._dest[seal].tolist()],
            deadline=[None if np.isnan(d) else d for d in deadline.tolist()],
            late=(t[f] > deadline).tolist(),
        )


def _project_routes(transits: list[TransitSpec]) -> list[npt.NDArray[np.float64]]:
    """Metric vertices of every transit's route; each distinct route is projected once, in one call."""
    unique: dict[tuple[tuple[float, float], ...], int] = {}
    keys = []
    for tr in transits:
        key = tuple((float(a), float(b)) for a, b in tr.route)
        keys.append(unique.setdefault(key, len(unique)))
    if not unique:
        return []
    routes = list(unique)
    lengths = np.asarray([len(r) for r in routes])
    flat = np.asarray([v for r in routes for v in r], dtype=np.float64)
    x, y = to_metric(flat[:, 0], flat[:, 1])
    xy = np.split(np.column_stack([x, y]), np.cumsum(lengths)[:-1])
    return [xy[k] for k in keys]
