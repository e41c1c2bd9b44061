"""Transit corridors: is each fix within its own transit's corridor, vectorized.

A corridor is the route polyline with a width per segment (wider in towns and on border
approaches): a fix is *inside* when some segment lies within that segment's width of it, i.e. it
is inside the union of the segments' exact buffers. A uniform corridor is the special case of one
width everywhere.

The hot path settles most fixes with a handful of segments: a per-seal hint names the segment
nearest to the seal's previous fix, and a fix within the width of that segment or one of its
neighbours is inside whatever the others say. The rest pay for the full answer: routes with at
most ``MAX_DENSE_SEGMENTS`` segments as numpy over padded per-route segment arrays (a few dozen
flops per segment, no geometry objects per fix); longer routes (real road geometry has hundreds
of vertices) through an STRtree of their segments that pairs each fix with the segments within the
route's widest width, numpy then measuring the pairs, so one detailed route cannot blow up the
padding (a fix found outside asks the tree for its nearest segment). Routes are deduplicated
because many transits share one highway.
The shapely buffer of a corridor is built on demand (maps, PostGIS comparison): as a polygon it
approximates the round joins with chords, so the engine does not use it for the decision.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import shapely

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_DENSE_SEGMENTS = 48
# Segments around the hint tried before the full answer, nearest first: a truck moves on by a few
# segments between fixes on detailed geometry, and sometimes a little back along a bend. Each step
# is computed only for the fixes not settled yet.
HINT_WINDOW: tuple[int, ...] = (0, 1, 2, -1, 3, 4, 5, -2, 6, 7, 8)

Width = float | Sequence[float]


def _runs(widths: FloatArray) -> list[tuple[int, int, float]]:
    """Stretches of one width as (first segment, end segment exclusive, width)."""
    cut = np.flatnonzero(np.diff(widths) != 0) + 1
    bounds = np.concatenate([[0], cut, [widths.shape[0]]])
    return [(int(a), int(b), float(widths[a])) for a, b in itertools.pairwise(bounds)]


class CorridorIndex:
    """Route geometry and per-segment widths per seal slot, in the metric CRS.

    ``widths[i]`` is slot ``i``'s corridor width: one number, or one per segment of its route.
    """

    def __init__(self, routes_xy: Sequence[npt.NDArray[np.float64]], widths: Sequence[Width]) -> None:
        unique: dict[tuple[bytes, bytes], int] = {}
        route_of: list[int] = []
        coords: list[FloatArray] = []
        seg_w: list[FloatArray] = []
        for xy, width in zip(routes_xy, widths, strict=True):
            arr = np.ascontiguousarray(xy, dtype=np.float64)
            m = arr.shape[0] - 1
            w = np.full(m, width) if isinstance(width, int | float) else np.asarray(width, dtype=np.float64)
            if w.shape != (m,):
                raise ValueError(f"a route of {m} segments needs {m} widths, got {w.shape[0]}")
            if not (w > 0).all():
                raise ValueError("corridor widths must be positive")
            key = (arr.tobytes(), w.tobytes())
            r = unique.get(key)
            if r is None:
                r = unique[key] = len(coords)
                coords.append(arr)
                seg_w.append(w)
            route_of.append(r)
        self.route_of: IntArray = np.asarray(route_of, dtype=np.int64)
        self.routes_xy = coords
        r_count = len(coords)
        self.nseg: IntArray = np.asarray([c.shape[0] - 1 for c in coords], dtype=np.int64)
        self.max_width: FloatArray = np.asarray([w.max() for w in seg_w], dtype=np.float64)
        self.uniform: npt.NDArray[np.bool_] = np.asarray([bool((w == w[0]).all()) for w in seg_w], dtype=bool)
        self.width: FloatArray = self.max_width[self.route_of] if r_count else np.empty(0)
        self.sparse_route: npt.NDArray[np.bool_] = self.nseg > MAX_DENSE_SEGMENTS

        # Every segment of every route, flat: the hint window reads these.
        self.seg_off: IntArray = np.concatenate([[0], np.cumsum(self.nseg)[:-1]]).astype(np.int64)
        flat = [np.column_stack([c[:-1], c[1:] - c[:-1]]) for c in coords]
        seg = np.concatenate(flat) if flat else np.empty((0, 4))
        self.fax, self.fay, self.fdx, self.fdy = (np.ascontiguousarray(seg[:, i]) for i in range(4))
        self.finv = _inverse_length2(self.fdx, self.fdy)
        self.fw: FloatArray = np.concatenate(seg_w) if seg_w else np.empty(0)

        # Dense routes padded to one width: padding repeats the last vertex as a zero-length
        # segment with the last width, whose answer never undercuts the last real segment's.
        dense = self.nseg[~self.sparse_route]
        k = int(dense.max()) if dense.size else 1
        self.ax = np.zeros((r_count, k))
        self.ay = np.zeros((r_count, k))
        self.dx = np.zeros((r_count, k))
        self.dy = np.zeros((r_count, k))
        self.wpad = np.ones((r_count, k))
        for r, c in enumerate(coords):
            if self.sparse_route[r]:
                continue
            m = c.shape[0] - 1
            self.ax[r, :m], self.ay[r, :m] = c[:-1, 0], c[:-1, 1]
            self.ax[r, m:], self.ay[r, m:] = c[-1, 0], c[-1, 1]
            self.dx[r, :m] = c[1:, 0] - c[:-1, 0]
            self.dy[r, :m] = c[1:, 1] - c[:-1, 1]
            self.wpad[r, :m], self.wpad[r, m:] = seg_w[r], seg_w[r][-1]
        self.inv = _inverse_length2(self.dx, self.dy)

        self._seg_w = seg_w
        self._buffers: dict[int, shapely.Polygon] = {}
        self._trees: dict[int, shapely.STRtree] = {}

    def distance(self, slot: IntArray, x: FloatArray, y: FloatArray) -> FloatArray:
        """Exact distance in metres from each fix to the route line of its slot."""
        return self._full(slot, x, y)[1]

    def check(
        self, slot: IntArray, x: FloatArray, y: FloatArray, hint: IntArray
    ) -> tuple[npt.NDArray[np.bool_], FloatArray]:
        """Out-of-corridor flag per fix, and its exact distance from the route line where out (NaN where in).

        ``hint`` (per fix, updated in place; the caller scatters it back per seal) is the segment
        nearest to the seal's previous fix. A fix within the width of a segment of the window around
        it is inside (being inside is "some segment is near enough"), so only the rest pay for the
        full answer; the decision is exact either way.
        """
        r = self.route_of[slot]
        last = self.nseg[r] - 1
        base = self.seg_off[r]
        todo = np.arange(x.shape[0])
        for step in HINT_WINDOW:
            k = np.clip(hint[todo] + step, 0, last[todo])
            inside = self._segment_d2(base[todo] + k, x[todo], y[todo]) <= self.fw[base[todo] + k] ** 2
            hint[todo[inside]] = k[inside]
            todo = todo[~inside]
            if not todo.size:
                break
        rest = todo
        dist = np.full(x.shape[0], np.nan)
        is_out = np.zeros(x.shape[0], dtype=bool)
        if rest.size:
            out_rest, d_rest, k_rest = self._full(slot[rest], x[rest], y[rest])
            hint[rest] = k_rest
            is_out[rest] = out_rest
            dist[rest] = np.where(out_rest, d_rest, np.nan)
        return is_out, dist

    def _segment_d2(self, g: IntArray, x: FloatArray, y: FloatArray) -> FloatArray:
        """Squared distance from each point to flat segment ``g``."""
        px, py = x - self.fax[g], y - self.fay[g]
        f = np.clip((px * self.fdx[g] + py * self.fdy[g]) * self.finv[g], 0.0, 1.0)
        px -= f * self.fdx[g]
        py -= f * self.fdy[g]
        d2: FloatArray = px * px + py * py
        return d2

    def _full(self, slot: IntArray, x: FloatArray, y: FloatArray) -> tuple[npt.NDArray[np.bool_], FloatArray, IntArray]:
        """Per fix: outside its corridor?, its distance from the route line, the segment to hint next."""
        r = self.route_of[slot]
        n = x.shape[0]
        out, dist = np.empty(n, dtype=bool), np.empty(n)
        nearest = np.zeros(n, dtype=np.int64)
        sparse = self.sparse_route[r]
        dense = np.flatnonzero(~sparse)
        if dense.size:
            excess, dist[dense], nearest[dense] = self._dense(r[dense], x[dense], y[dense])
            out[dense] = excess > 0
        for route in np.unique(r[sparse]).tolist():
            m = np.flatnonzero(r == route)
            out[m], dist[m], nearest[m] = self._sparse(route, x[m], y[m])
        return out, dist, nearest

    def _dense(self, r: IntArray, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
        ax, ay, dx, dy = self.ax[r], self.ay[r], self.dx[r], self.dy[r]
        px = x[:, None] - ax
        py = y[:, None] - ay
        f = (px * dx + py * dy) * self.inv[r]
        np.clip(f, 0.0, 1.0, out=f)
        px -= f * dx
        py -= f * dy
        d2 = px * px + py * py
        rows = np.arange(x.shape[0])
        # One width along the route: the nearest segment decides, and one square root per fix will do.
        k = d2.argmin(axis=1)
        dist: FloatArray = np.sqrt(d2[rows, k])
        excess = dist - self.wpad[r, 0]
        varying = np.flatnonzero(~self.uniform[r])
        if varying.size:
            d = np.sqrt(d2[varying])
            e = d - self.wpad[r[varying]]
            kv = e.argmin(axis=1)
            excess[varying] = e[np.arange(kv.shape[0]), kv]
            k[varying] = kv
        return excess, dist, k

    def _sparse(self, r: int, x: FloatArray, y: FloatArray) -> tuple[npt.NDArray[np.bool_], FloatArray, IntArray]:
        n = x.shape[0]
        points = shapely.points(x, y)
        tree = self._tree(r)
        # Pairs of (fix, segment) within the widest width: a fix inside is inside one of its pairs'.
        fix_i, seg_j = tree.query(points, predicate="dwithin", distance=float(self.max_width[r]))
        g = self.seg_off[r] + seg_j
        d = np.sqrt(self._segment_d2(g, x[fix_i], y[fix_i]))
        e = d - self.fw[g]
        excess, dist = np.full(n, np.inf), np.full(n, np.inf)
        nearest = np.zeros(n, dtype=np.int64)
        order = np.lexsort((e, fix_i))  # per fix, its least excess first
        first = order[np.flatnonzero(np.r_[True, fix_i[order][1:] != fix_i[order][:-1]])] if order.size else order
        excess[fix_i[first]], nearest[fix_i[first]] = e[first], seg_j[first]
        np.minimum.at(dist, fix_i, d)
        out = ~(excess <= 0)
        # Outside every segment's width (rare: a deviation): the nearest segment, from the tree.
        far = np.flatnonzero(out)
        if far.size:
            (which, seg), d_far = tree.query_nearest(points[far], return_distance=True, all_matches=False)
            dist[far[which]], nearest[far[which]] = d_far, seg
        return out, dist, nearest

    def _tree(self, r: int) -> shapely.STRtree:
        tree = self._trees.get(r)
        if tree is None:
            c = self.routes_xy[r]
            tree = self._trees[r] = shapely.STRtree(shapely.linestrings(np.stack([c[:-1], c[1:]], axis=1)))
        return tree

    def buffer(self, slot: int, quad_segs: int = 8) -> shapely.Polygon:
        """The corridor as a (cached) shapely polygon: each stretch buffered by its width."""
        r = int(self.route_of[slot])
        poly = self._buffers.get(r)
        if poly is None:
            c = self.routes_xy[r]
            parts = [
                shapely.buffer(shapely.LineString(c[a : b + 1]), w, quad_segs=quad_segs)
                for a, b, w in _runs(self._seg_w[r])
            ]
            poly = self._buffers[r] = shapely.union_all(parts) if len(parts) > 1 else parts[0]
            shapely.prepare(poly)
        return poly


def _inverse_length2(dx: FloatArray, dy: FloatArray) -> FloatArray:
    len2 = dx * dx + dy * dy
    return np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)
