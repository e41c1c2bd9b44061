"""Transit corridors: distance from each fix to its own transit's route line, vectorized.

A fix is *out* when its distance to the route polyline exceeds ``corridor_width_m``, i.e. it is
outside the exact buffer of the line. The hot path computes that distance with numpy over padded
per-route segment arrays (a few dozen flops per segment, no geometry objects per fix); routes are
deduplicated because many transits share one highway. Routes with more than ``MAX_DENSE_SEGMENTS``
segments fall back to ``shapely.distance`` (GEOS) so one detailed route cannot blow up the padding.
A per-seal hint (the segment nearest to its previous fix) settles most fixes with one segment: within
the width of any one segment a fix is inside, whatever the others say. The shapely buffer of a
corridor is built on demand (maps, PostGIS comparison): as a polygon it
approximates the round joins with chords, so the engine does not use it for the decision.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import shapely

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

MAX_DENSE_SEGMENTS = 48


class CorridorIndex:
    """Route geometry per seal slot, in the metric CRS."""

    def __init__(self, routes_xy: Sequence[npt.NDArray[np.float64]], widths: Sequence[float]) -> None:
        unique: dict[bytes, int] = {}
        route_of: list[int] = []
        coords: list[npt.NDArray[np.float64]] = []
        for xy in routes_xy:
            arr = np.ascontiguousarray(xy, dtype=np.float64)
            key = arr.tobytes()
            r = unique.get(key)
            if r is None:
                r = unique[key] = len(coords)
                coords.append(arr)
            route_of.append(r)
        self.route_of: IntArray = np.asarray(route_of, dtype=np.int64)
        self.width: FloatArray = np.asarray(widths, dtype=np.float64)
        self.routes_xy = coords
        self.lines = np.empty(len(coords), dtype=object)  # object array: routes differ in length
        self.lines[:] = [shapely.LineString(c) for c in coords]
        nseg = np.asarray([c.shape[0] - 1 for c in coords], dtype=np.int64)
        self.sparse_route: npt.NDArray[np.bool_] = nseg > MAX_DENSE_SEGMENTS
        dense = nseg[~self.sparse_route]
        k = int(dense.max()) if dense.size else 1
        r_count = len(coords)
        # Padding repeats the last vertex as a zero-length segment: its distance is the distance to
        # a vertex of the line, which never undercuts the true distance.
        self.ax = np.zeros((r_count, k))
        self.ay = np.zeros((r_count, k))
        self.dx = np.zeros((r_count, k))
        self.dy = np.zeros((r_count, k))
        self.inv = np.zeros((r_count, k))
        for r, c in enumerate(coords):
            if self.sparse_route[r]:
                continue
            m = c.shape[0] - 1
            self.ax[r, :m], self.ay[r, :m] = c[:-1, 0], c[:-1, 1]
            self.ax[r, m:], self.ay[r, m:] = c[-1, 0], c[-1, 1]
            self.dx[r, :m] = c[1:, 0] - c[:-1, 0]
            self.dy[r, :m] = c[1:, 1] - c[:-1, 1]
            len2 = self.dx[r, :m] ** 2 + self.dy[r, :m] ** 2
            self.inv[r, :m] = np.divide(1.0, len2, out=np.zeros_like(len2), where=len2 > 0)
        self._buffers: dict[tuple[int, float], shapely.Polygon] = {}

    def distance(self, slot: IntArray, x: FloatArray, y: FloatArray) -> FloatArray:
        """Exact distance in metres from each fix to the route line of its slot."""
        return self._distance(slot, x, y)[0]

    def check(
        self, slot: IntArray, x: FloatArray, y: FloatArray, hint: IntArray
    ) -> tuple[npt.NDArray[np.bool_], FloatArray]:
        """Out-of-corridor flag per fix, and the exact distance where out (NaN where in).

        ``hint`` (per fix, updated in place by the caller's scatter) is the route segment nearest to
        the seal's previous fix. Within the width of that one segment the fix is inside whatever
        the other segments say (the line distance is a minimum over segments), so only the rest
        pay for the full distance; the decision is exact either way.
        """
        r = self.route_of[slot]
        width = self.width[slot]
        k = np.minimum(hint, self.ax.shape[1] - 1)
        ax, ay, dx, dy = self.ax[r, k], self.ay[r, k], self.dx[r, k], self.dy[r, k]
        px, py = x - ax, y - ay
        f = np.clip((px * dx + py * dy) * self.inv[r, k], 0.0, 1.0)
        px -= f * dx
        py -= f * dy
        near = (np.sqrt(px * px + py * py) <= width) & ~self.sparse_route[r]
        rest = np.flatnonzero(~near)
        dist = np.full(x.shape[0], np.nan)
        d_rest, k_rest = self._distance(slot[rest], x[rest], y[rest])
        hint[rest] = k_rest
        is_out = np.zeros(x.shape[0], dtype=bool)
        is_out[rest] = d_rest > width[rest]
        dist[rest] = np.where(is_out[rest], d_rest, np.nan)
        return is_out, dist

    def _distance(self, slot: IntArray, x: FloatArray, y: FloatArray) -> tuple[FloatArray, IntArray]:
        r = self.route_of[slot]
        out = np.empty(x.shape[0], dtype=np.float64)
        nearest = np.zeros(x.shape[0], dtype=np.int64)
        sparse = self.sparse_route[r]
        if not sparse.any():
            out[:], nearest[:] = self._dense_distance(r, x, y)
        else:
            dense = ~sparse
            out[dense], nearest[dense] = self._dense_distance(r[dense], x[dense], y[dense])
            out[sparse] = shapely.distance(self.lines[r[sparse]], shapely.points(x[sparse], y[sparse]))
        return out, nearest

    def _dense_distance(self, r: IntArray, x: FloatArray, y: FloatArray) -> tuple[FloatArray, IntArray]:
        ax, ay, dx, dy = self.ax[r], self.ay[r], self.dx[r], self.dy[r]
        px = x[:, None] - ax
        py = y[:, None] - ay
        f = (px * dx + py * dy) * self.inv[r]
        np.clip(f, 0.0, 1.0, out=f)
        px -= f * dx
        py -= f * dy
        d2 = px * px + py * py
        k = d2.argmin(axis=1)
        dist: FloatArray = np.sqrt(d2[np.arange(k.shape[0]), k])
        return dist, k

    def buffer(self, slot: int, quad_segs: int = 8) -> shapely.Polygon:
        """The corridor as a (cached) shapely polygon: the route line buffered by the width."""
        key = (int(self.route_of[slot]), float(self.width[slot]))
        poly = self._buffers.get(key)
        if poly is None:
            poly = self._buffers[key] = shapely.buffer(self.lines[key[0]], key[1], quad_segs=quad_segs)
            shapely.prepare(poly)
        return poly
