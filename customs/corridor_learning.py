"""A route's road learned from the tracks of past transits: a centerline with the observed spread.

Every fix of every track is placed along a reference line (the route as it stands) and binned every
``step_m`` metres; a bin's centre is the coordinate-wise median of its fixes, so GPS noise and the
occasional multipath outlier do not pull it, and a bin seen by fewer than ``min_tracks`` transits
is left out (the line joins its neighbours). The centres, smoothed, are the new centerline; a
second pass places the fixes along that line instead of the reference, which undoes the ordering
errors a straight reference line makes where the road wanders. The spread of a bin is a robust
"mean + 3 σ" of its fixes' distances from the centerline (median + 3 × 1.4826 × median absolute
deviation), after dropping fixes further than ``outlier_m``: detours and glitches in the history
are not the road, and a few percent of multipath outliers must not widen it; the corridor width there is
``spread_factor`` × spread + ``margin_m``, clipped to [``min_width_m``, ``max_width_m``] and rounded up
to ``width_step_m``, so wide where transits really spread (two lanes through a town, a bypass) and
narrow where they keep to one carriageway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import LineString

from customs.corridors import to_metric, to_wgs84

LonLat = tuple[float, float]
FloatArray = npt.NDArray[np.float64]


class LearningError(ValueError):
    """Too little history to learn from, with the reason."""


@dataclass(frozen=True, slots=True)
class LearningParams:
    step_m: float = 250.0
    min_tracks: int = 3
    min_coverage: float = 0.5  # a track must run along at least this share of the route
    outlier_m: float = 1_000.0
    spread_factor: float = 1.5
    margin_m: float = 500.0
    min_width_m: float = 1_000.0
    max_width_m: float = 5_000.0
    width_step_m: float = 250.0
    simplify_m: float = 10.0


@dataclass(frozen=True, slots=True)
class LearnedCorridor:
    coords: list[LonLat]
    default_width_m: float
    width_profile: list[tuple[float, float, float]]  # (from_m, to_m, width_m) along the new line
    stats: dict[str, Any] = field(default_factory=dict)


def learn_corridor(
    tracks: Sequence[Sequence[LonLat]], reference: Sequence[LonLat], params: LearningParams | None = None
) -> LearnedCorridor:
    p = params or LearningParams()
    ref = LineString(shapely.get_coordinates(to_metric(LineString(reference))))
    usable: list[FloatArray] = []
    for track in tracks:
        if len(track) < 2:
            continue
        xy = shapely.get_coordinates(to_metric(shapely.points(np.asarray(track, dtype=float))))
        along = shapely.line_locate_point(ref, shapely.points(xy))
        if (along.max() - along.min()) >= p.min_coverage * ref.length:
            usable.append(xy)
    if len(usable) < p.min_tracks:
        raise LearningError(
            f"{len(usable)} usable track(s) (each covering at least {p.min_coverage:.0%} of the route); "
            f"learning needs at least {p.min_tracks}"
        )
    xy = np.concatenate(usable)
    track_of = np.concatenate([np.full(len(t), i) for i, t in enumerate(usable)])

    line = ref
    for _ in range(2):
        line = _centerline(line, xy, track_of, p)
    points = shapely.points(xy)
    dist = shapely.distance(line, points)
    along = shapely.line_locate_point(line, points)
    keep = dist <= p.outlier_m
    bins = np.floor(along[keep] / p.step_m).astype(np.int64)
    n_bins = int(np.ceil(line.length / p.step_m))
    spread = np.full(n_bins, np.nan)
    for b in np.unique(bins).tolist():
        if b < n_bins:
            d = dist[keep][bins == b]
            med = np.median(d)
            spread[b] = med + 3 * 1.4826 * np.median(np.abs(d - med))
    spread = _fill(spread)
    raw = np.clip(p.spread_factor * spread + p.margin_m, p.min_width_m, p.max_width_m)
    widths = np.minimum(np.ceil(raw / p.width_step_m) * p.width_step_m, p.max_width_m)
    values, counts = np.unique(widths, return_counts=True)
    default = float(values[counts.argmax()])
    profile = _stretches(widths, default, p.step_m, line.length)

    simple = shapely.simplify(line, p.simplify_m) if p.simplify_m > 0 else line
    coords = [(round(x, 6), round(y, 6)) for x, y in shapely.get_coordinates(to_wgs84(simple)).tolist()]
    stats = {
        "tracks": len(usable),
        "tracks_offered": len(tracks),
        "fixes": int(xy.shape[0]),
        "outliers": int((~keep).sum()),
        "length_m": round(float(line.length)),
        "vertices": len(coords),
        "spread_p50_m": round(float(np.nanmedian(spread)), 1),
        "spread_max_m": round(float(np.nanmax(spread)), 1),
        "max_offset_from_reference_m": round(float(shapely.hausdorff_distance(line, ref))),
    }
    return LearnedCorridor(coords, default, profile, stats)


def _centerline(line: LineString, xy: FloatArray, track_of: npt.NDArray[np.int64], p: LearningParams) -> LineString:
    points = shapely.points(xy)
    along = shapely.line_locate_point(line, points)
    near = shapely.distance(line, points) <= max(p.outlier_m, _reference_slack(line, xy))
    bins = np.floor(along / p.step_m).astype(np.int64)
    centres: list[tuple[float, float, float]] = []
    for b in np.unique(bins[near]).tolist():
        m = near & (bins == b)
        if np.unique(track_of[m]).shape[0] < p.min_tracks:
            continue
        cx, cy = np.median(xy[m], axis=0)
        centres.append((float(np.median(along[m])), float(cx), float(cy)))
    if len(centres) < 2:
        raise LearningError("the tracks never agree on where the road runs (no stretch seen by enough transits)")
    centres.sort()
    c = np.asarray([(x, y) for _, x, y in centres])
    if c.shape[0] >= 3:  # a running median of three drops a lone odd centre without rounding bends
        smooth = c.copy()
        smooth[1:-1] = np.median(np.stack([c[:-2], c[1:-1], c[2:]]), axis=0)
        c = smooth
    return LineString(c)


def _reference_slack(line: LineString, xy: FloatArray) -> float:
    """On the first pass the reference may be a straight line kilometres off the road: every fix
    counts (the medians sort it out); afterwards only fixes near the learned line do."""
    return float(np.quantile(shapely.distance(line, shapely.points(xy)), 0.9)) if line.length else 0.0


def _fill(values: FloatArray) -> FloatArray:
    """Bins nobody saw take their nearest neighbour's value."""
    seen = np.flatnonzero(~np.isnan(values))
    if not seen.size:
        return np.zeros_like(values)
    idx = np.arange(values.shape[0])
    nearest = seen[np.clip(np.searchsorted(seen, idx), 0, seen.size - 1)]
    before = seen[np.clip(np.searchsorted(seen, idx) - 1, 0, seen.size - 1)]
    pick = np.where(np.abs(before - idx) <= np.abs(nearest - idx), before, nearest)
    out: FloatArray = values[pick]
    return out


def _stretches(widths: FloatArray, default: float, step_m: float, length: float) -> list[tuple[float, float, float]]:
    out: list[tuple[float, float, float]] = []
    for b, w in enumerate(widths.tolist()):
        a, z = b * step_m, min((b + 1) * step_m, length)
        if w == default:
            continue
        if out and out[-1][2] == w and out[-1][1] == a:
            out[-1] = (out[-1][0], z, w)
        else:
            out.append((a, z, w))
    return [(round(a, 1), round(z, 1), w) for a, z, w in out]
