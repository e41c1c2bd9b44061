"""Zones in the metric CRS: point membership and segment crossings, vectorized over a batch.

Membership is GEOS ``intersects`` (a fix on the boundary is inside). Three cheap filters run before
GEOS sees anything: a raster of zone bounding boxes (one gather per fix, a summed-area table per
segment) rejects the fixes and segments far from every zone, which is most of them; the rest are
paired with the zones whose bbox they overlap (numpy broadcast, or the STRtree for many zones);
segments additionally drop pairs whose zone an endpoint is in and pairs outside the zone's bounding
circle. Only the survivors go to GEOS (``intersects_xy`` / ``intersects`` on prepared polygons).

Where a segment crosses a zone, the first and last fraction along it come from the segment/edge
intersection parameters of the zone's ring (:func:`edge_fractions`), the same arithmetic the
per-fix reference uses, so crossing times agree to the last bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import shapely

from geofence.model import AUTHORIZED_STOP_KINDS, ZoneSpec
from geofence.projection import ring_to_metric

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_EMPTY = np.empty(0, dtype=np.int64)
_EMPTY_F = np.empty(0, dtype=np.float64)
MAX_RASTER_CELLS = 1 << 20  # 5 MiB (uint8 grid + int32 summed-area table) at most
BROADCAST_MAX_ZONES = 256  # above this, bbox pairs come from the STRtree instead of a dense compare


def zone_polygon_metric(zone: ZoneSpec) -> shapely.Polygon:
    """The zone's polygon projected to the metric CRS (the reference uses the same construction)."""
    return shapely.Polygon(ring_to_metric(zone.polygon))


def edge_fractions(
    ax: FloatArray,
    ay: FloatArray,
    dx: FloatArray,
    dy: FloatArray,
    vx: FloatArray,
    vy: FloatArray,
    wx: FloatArray,
    wy: FloatArray,
) -> tuple[BoolArray, FloatArray, FloatArray]:
    """Fractions along segments A + f·D where they meet ring edges V→W (elementwise).

    Returns (hit, f_first, f_last): a proper crossing gives one fraction (both equal); a collinear
    overlap gives the two ends of the overlap, clipped to [0, 1]. The reference implements the
    same formulas in scalar Python.
    """
    ex, ey = wx - vx, wy - vy
    px, py = vx - ax, vy - ay
    denom = dx * ey - dy * ex
    fnum = px * ey - py * ex
    unum = px * dy - py * dx
    with np.errstate(divide="ignore", invalid="ignore"):
        f = fnum / denom
        u = unum / denom
        cross = (denom != 0) & (f >= 0) & (f <= 1) & (u >= 0) & (u <= 1)
        len2 = dx * dx + dy * dy
        f1 = (px * dx + py * dy) / len2
        f2 = ((wx - ax) * dx + (wy - ay) * dy) / len2
    lo, hi = np.minimum(f1, f2), np.maximum(f1, f2)
    overlap = (denom == 0) & (unum == 0) & (hi >= 0) & (lo <= 1)
    first = np.where(cross, f, np.minimum(np.maximum(lo, 0.0), 1.0))
    last = np.where(cross, f, np.minimum(np.maximum(hi, 0.0), 1.0))
    return cross | overlap, first, last


class ZoneIndex:
    """Projected, prepared zone polygons with an STRtree and a bbox raster for prefiltering."""

    def __init__(self, zones: Sequence[ZoneSpec]) -> None:
        self.codes: list[str] = [z.code for z in zones]
        if len(set(self.codes)) != len(self.codes):
            raise ValueError("duplicate zone codes")
        self.kinds: list[str] = [z.kind for z in zones]
        self.index_of: dict[str, int] = {c: i for i, c in enumerate(self.codes)}
        self.authorized: BoolArray = np.asarray([k in AUTHORIZED_STOP_KINDS for k in self.kinds], dtype=bool)
        self.checkpoint: BoolArray = np.asarray([k == "border_checkpoint" for k in self.kinds], dtype=bool)
        self.geoms = np.empty(len(zones), dtype=object)
        self.geoms[:] = [zone_polygon_metric(z) for z in zones]
        invalid = [c for c, ok in zip(self.codes, shapely.is_valid(self.geoms).tolist(), strict=True) if not ok]
        if invalid:  # self-intersecting rings make GEOS overlay fail mid-batch; refuse them up front
            raise ValueError(f"invalid zone polygons: {invalid[:10]}")
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        # Bounding circles (bbox centre, farthest vertex, padded against rounding) for cheap rejects.
        self.bounds = b = shapely.bounds(self.geoms).reshape(-1, 4)
        self.cx, self.cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
        coords, owner = shapely.get_coordinates(shapely.get_exterior_ring(self.geoms), return_index=True)
        r2 = np.zeros(len(zones))
        np.maximum.at(r2, owner, (coords[:, 0] - self.cx[owner]) ** 2 + (coords[:, 1] - self.cy[owner]) ** 2)
        self.r2 = (np.sqrt(r2) * (1 + 1e-9) + 1e-6) ** 2
        # Ring edges V→W of every zone, flat, for the crossing fractions.
        last = np.ones(coords.shape[0], dtype=bool)
        last[:-1] = owner[1:] != owner[:-1]
        first_vertex = np.flatnonzero(~last)
        self.vx, self.vy = coords[first_vertex, 0], coords[first_vertex, 1]
        self.wx, self.wy = coords[first_vertex + 1, 0], coords[first_vertex + 1, 1]
        self.edge_count = np.bincount(owner[first_vertex], minlength=len(zones)).astype(np.int64)
        self.edge_start = np.cumsum(self.edge_count) - self.edge_count
        self._build_raster()

    def __len__(self) -> int:
        return len(self.codes)

    def _build_raster(self) -> None:
        if not len(self):
            self.cell_inv, self.x0, self.y0 = 1.0, 0.0, 0.0
            self.grid = np.zeros((1, 1), dtype=np.uint8)
            self.sat = np.zeros((2, 2), dtype=np.int32)
            return
        b = self.bounds
        minx, miny = float(b[:, 0].min()), float(b[:, 1].min())
        maxx, maxy = float(b[:, 2].max()), float(b[:, 3].max())
        # Cells a fraction of a typical zone keep the false-positive area near the bboxes' own.
        size = float(np.median(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])))
        cell = max(size / 6, 50.0)
        while ((maxx - minx) / cell + 3) * ((maxy - miny) / cell + 3) > MAX_RASTER_CELLS:
            cell *= 2.0
        # One empty cell of margin on every side: coordinates off the raster clamp onto it.
        self.cell_inv, self.x0, self.y0 = 1.0 / cell, minx - cell, miny - cell
        w = int((maxx - self.x0) * self.cell_inv) + 2
        h = int((maxy - self.y0) * self.cell_inv) + 2
        self.grid = np.zeros((h, w), dtype=np.uint8)
        ix0, iy0 = self.cells(b[:, 0], b[:, 1])
        ix1, iy1 = self.cells(b[:, 2], b[:, 3])
        for a, c, d, e in zip(ix0.tolist(), iy0.tolist(), ix1.tolist(), iy1.tolist(), strict=True):
            self.grid[c : e + 1, a : d + 1] = 1  # set-up only, one slice per zone
        self.sat = np.zeros((h + 1, w + 1), dtype=np.int32)
        self.sat[1:, 1:] = self.grid.cumsum(0, dtype=np.int32).cumsum(1, dtype=np.int32)

    def cells(self, x: FloatArray, y: FloatArray) -> tuple[IntArray, IntArray]:
        """Raster cell of each point; monotone in x and y, so box corners give box cell ranges."""
        h, w = self.grid.shape
        # Clip as floats (before the cast) so far-away points land on the empty margin.
        ix = np.clip((x - self.x0) * self.cell_inv, 0, w - 1).astype(np.int64)
        iy = np.clip((y - self.y0) * self.cell_inv, 0, h - 1).astype(np.int64)
        return ix, iy

    def _box_candidates(self, ix0: IntArray, iy0: IntArray, ix1: IntArray, iy1: IntArray) -> IntArray:
        s = self.sat
        total = s[iy1 + 1, ix1 + 1] - s[iy0, ix1 + 1] - s[iy1 + 1, ix0] + s[iy0, ix0]
        return np.flatnonzero(total > 0)

    def _bbox_pairs(
        self, minx: FloatArray, miny: FloatArray, maxx: FloatArray, maxy: FloatArray
    ) -> tuple[IntArray, IntArray]:
        """(box index, zone index) for every box overlapping a zone's bounding box."""
        if len(self) <= BROADCAST_MAX_ZONES:
            b = self.bounds
            hit = (
                (minx[:, None] <= b[:, 2])
                & (maxx[:, None] >= b[:, 0])
                & (miny[:, None] <= b[:, 3])
                & (maxy[:, None] >= b[:, 1])
            )
            i, z = np.nonzero(hit)
            return i.astype(np.int64), z.astype(np.int64)
        q = self.tree.query(shapely.box(minx, miny, maxx, maxy))
        return q[0].astype(np.int64), q[1].astype(np.int64)

    def point_members(self, x: FloatArray, y: FloatArray, ix: IntArray, iy: IntArray) -> tuple[IntArray, IntArray]:
        """(fix index, zone index) for every fix inside a zone, sorted by fix then zone."""
        if not len(self):
            return _EMPTY, _EMPTY
        cand = np.flatnonzero(self.grid[iy, ix])
        if not cand.size:
            return _EMPTY, _EMPTY
        cx, cy = x[cand], y[cand]
        i, zone = self._bbox_pairs(cx, cy, cx, cy)
        hit = shapely.intersects_xy(self.geoms[zone], cx[i], cy[i])
        fix, zone = cand[i[hit]], zone[hit]
        order = np.lexsort((zone, fix))
        return fix[order], zone[order]

    def segment_crossings(
        self,
        ax: FloatArray,
        ay: FloatArray,
        bx: FloatArray,
        by: FloatArray,
        cells_a: tuple[IntArray, IntArray],
        cells_b: tuple[IntArray, IntArray],
        owner: IntArray,
        skip: IntArray,
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        """Zones crossed by segments a→b, skipping (owner, zone) pairs listed in ``skip``.

        ``owner`` names each segment (the engine's fix index); ``skip`` holds sorted keys
        ``owner * len(self) + zone`` (zones an endpoint is in). Returns owner, zone and the first
        and last fraction (0..1) along the segment where it touches the zone.
        """
        nz = len(self)
        if not nz or not ax.size:
            return _EMPTY, _EMPTY, _EMPTY_F, _EMPTY_F
        (aix, aiy), (bix, biy) = cells_a, cells_b
        cand = self._box_candidates(
            np.minimum(aix, bix), np.minimum(aiy, biy), np.maximum(aix, bix), np.maximum(aiy, biy)
        )
        if not cand.size:
            return _EMPTY, _EMPTY, _EMPTY_F, _EMPTY_F
        cax, cay, cbx, cby = ax[cand], ay[cand], bx[cand], by[cand]
        i, zone = self._bbox_pairs(
            np.minimum(cax, cbx), np.minimum(cay, cby), np.maximum(cax, cbx), np.maximum(cay, cby)
        )
        seg = cand[i]
        keep = ~sorted_contains(skip, owner[seg] * nz + zone)
        seg, zone = seg[keep], zone[keep]
        # Bounding circle: a segment farther from the centre than the radius cannot touch the zone.
        sax, say = ax[seg], ay[seg]
        dx, dy = bx[seg] - sax, by[seg] - say
        len2 = dx * dx + dy * dy
        px, py = self.cx[zone] - sax, self.cy[zone] - say
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.clip(np.where(len2 > 0, (px * dx + py * dy) / len2, 0.0), 0.0, 1.0)
        ex, ey = px - f * dx, py - f * dy
        near = (ex * ex + ey * ey <= self.r2[zone]) & (len2 > 0)
        seg, zone = seg[near], zone[near]
        if not seg.size:
            return _EMPTY, _EMPTY, _EMPTY_F, _EMPTY_F
        coords = np.empty((seg.size, 2, 2))
        coords[:, 0, 0], coords[:, 0, 1], coords[:, 1, 0], coords[:, 1, 1] = ax[seg], ay[seg], bx[seg], by[seg]
        hit = shapely.intersects(self.geoms[zone], shapely.linestrings(coords))  # prepared polygons first
        seg, zone = seg[hit], zone[hit]
        ok, fmin, fmax = self._fractions(ax[seg], ay[seg], bx[seg], by[seg], zone)
        return owner[seg[ok]], zone[ok], fmin[ok], fmax[ok]

    def _fractions(
        self, ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, zone: IntArray
    ) -> tuple[BoolArray, FloatArray, FloatArray]:
        """First and last fraction along each segment where it meets its zone's ring."""
        n = zone.shape[0]
        counts = self.edge_count[zone]
        pair = np.repeat(np.arange(n), counts)
        first_of_pair = np.cumsum(counts) - counts
        edge = self.edge_start[zone][pair] + np.arange(pair.shape[0]) - first_of_pair[pair]
        sax, say = ax[pair], ay[pair]
        hit, f0, f1 = edge_fractions(
            sax, say, bx[pair] - sax, by[pair] - say, self.vx[edge], self.vy[edge], self.wx[edge], self.wy[edge]
        )
        fmin = np.full(n, np.inf)
        fmax = np.full(n, -np.inf)
        np.minimum.at(fmin, pair[hit], f0[hit])
        np.maximum.at(fmax, pair[hit], f1[hit])
        return np.isfinite(fmin), fmin, fmax


def sorted_contains(sorted_keys: IntArray, keys: IntArray) -> BoolArray:
    """``np.isin`` for a sorted, unique haystack: one binary search per key, no sort."""
    if not sorted_keys.size:
        return np.zeros(keys.shape[0], dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.shape[0] - 1)
    found: BoolArray = sorted_keys[pos] == keys
    return found
