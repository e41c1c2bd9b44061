"""A corridor rebuilt from noisy past tracks holds the road and not a 3 km detour."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString

from customs.corridor_learning import LearningError, LearningParams, learn_corridor
from customs.corridors import segment_widths
from geofence.corridors import CorridorIndex
from geofence.projection import point_to_lonlat, to_metric

# A road that wanders up to 4 km either side of the straight line between its ends (Hajigabul → Alat
# as the crow flies), through a town where it splits into two carriageways a kilometre apart.
A = np.asarray([0.0, 0.0])
B = np.asarray([0.0, 60_000.0])
ORIGIN_XY = np.asarray([560_000.0, 4_430_000.0])  # UTM 38N, near Hajigabul


def road_xy(n: int = 601) -> np.ndarray:
    s = np.linspace(0, 1, n)
    x = 4_000 * np.sin(2 * np.pi * s) + 1_500 * np.sin(6 * np.pi * s)
    out: np.ndarray = ORIGIN_XY + np.column_stack([x, s * 60_000])
    return out


def lonlat(xy: np.ndarray) -> list[tuple[float, float]]:
    return [point_to_lonlat(float(x), float(y)) for x, y in xy]


def beside(road: LineString, along: np.ndarray, offset_m: float) -> np.ndarray:
    """Points ``offset_m`` to the right of the road (left if negative), square to its direction."""
    here = shapely.get_coordinates(shapely.line_interpolate_point(road, along))
    ahead = shapely.get_coordinates(shapely.line_interpolate_point(road, np.minimum(along + 10, road.length)))
    back = shapely.get_coordinates(shapely.line_interpolate_point(road, np.maximum(along - 10, 0)))
    t = ahead - back
    t /= np.hypot(t[:, 0], t[:, 1])[:, None]
    out: np.ndarray = here + offset_m * np.column_stack([t[:, 1], -t[:, 0]])
    return out


def noisy_track(rng: np.random.Generator, road: LineString, town: tuple[float, float]) -> np.ndarray:
    """Fixes every ~150 m with 15 m GPS noise, 3 % multipath outliers up to 1.5 km, a dual carriageway
    in town (this transit keeps to one side), and a gap in coverage."""
    along = np.sort(rng.uniform(0, road.length, int(road.length / 150)))
    along = along[(along < 20_000) | (along > 23_000)]  # no coverage for 3 km
    in_town = (along > town[0]) & (along < town[1])
    pts = beside(road, along, 0.0)
    pts[in_town] = beside(road, along[in_town], rng.choice([-500.0, 500.0]))
    pts += rng.normal(0, 15, pts.shape)
    glitch = rng.random(len(pts)) < 0.03
    pts[glitch] += rng.uniform(-1_500, 1_500, (int(glitch.sum()), 2))
    return pts


@pytest.fixture(scope="module")
def learned():
    rng = np.random.default_rng(12)
    road = LineString(road_xy())
    town = (30_000.0, 34_000.0)
    tracks = [lonlat(noisy_track(rng, road, town)) for _ in range(12)]
    # One historic transit left the road for 3 km and came back: history is not all road.
    along = np.arange(0, road.length, 150)
    detour = beside(road, along, 0.0)
    span = (along > 30_000) & (along < 34_500)
    detour[span] = beside(road, along[span], 3_000.0)
    tracks.append(lonlat(detour))
    straight = lonlat(np.vstack([ORIGIN_XY + A, ORIGIN_XY + B]))
    return road, town, learn_corridor(tracks, straight), straight


def corridor_index(result) -> CorridorIndex:
    coords, widths = segment_widths(result.coords, result.default_width_m, result.width_profile)
    x, y = to_metric(np.asarray([c[0] for c in coords]), np.asarray([c[1] for c in coords]))
    return CorridorIndex([np.column_stack([x, y])], [widths])


def inside(index: CorridorIndex, xy: np.ndarray) -> np.ndarray:
    slot = np.zeros(len(xy), dtype=np.int64)
    hint = np.zeros(len(xy), dtype=np.int64)
    is_out, _ = index.check(slot, xy[:, 0].copy(), xy[:, 1].copy(), hint)
    return ~is_out


def test_the_road_stays_inside_the_learned_corridor(learned) -> None:
    road, _, result, _ = learned
    index = corridor_index(result)
    on_road = shapely.get_coordinates(shapely.line_interpolate_point(road, np.arange(0, road.length, 50)))
    assert inside(index, on_road).all()
    # Both carriageways through the town are road too, though each transit kept to one of them.
    along = np.arange(30_500, 33_500, 100.0)
    assert inside(index, beside(road, along, 500.0)).all()
    assert inside(index, beside(road, along, -500.0)).all()


def test_a_3km_detour_is_outside(learned) -> None:
    road, _, result, _ = learned
    index = corridor_index(result)
    for start in (5_000, 31_000, 45_000):  # the middle one is where the historic detour went
        along = np.arange(start, start + 3_000, 100.0)
        for side in (3_000.0, -3_000.0):
            pts = beside(road, along, side)
            away = shapely.distance(road, shapely.points(pts))
            pts = pts[away > 2_900]  # where the road bends back near, a point is not 3 km off it
            assert len(pts) > 10
            assert not inside(index, pts).any()


def test_the_straight_town_line_would_not_hold_the_road(learned) -> None:
    """Why learning matters: the town-to-town line's 2 km corridor leaves most of this road outside."""
    road, _, _, straight = learned
    x, y = to_metric(np.asarray([c[0] for c in straight]), np.asarray([c[1] for c in straight]))
    index = CorridorIndex([np.column_stack([x, y])], [2_000.0])
    on_road = shapely.get_coordinates(shapely.line_interpolate_point(road, np.arange(0, road.length, 50)))
    assert inside(index, on_road).mean() < 0.6


def test_the_corridor_is_wider_where_transits_spread(learned) -> None:
    _, town, result, _ = learned
    index = corridor_index(result)
    w = index.fw
    xy = index.routes_xy[0]
    mid = (xy[1:] + xy[:-1]) / 2
    line = LineString(xy)
    along = shapely.line_locate_point(line, shapely.points(mid))
    in_town = (along > town[0] + 500) & (along < town[1] - 500)
    assert w[in_town].mean() > w[~in_town].mean() + 200
    assert w[~in_town].min() == result.default_width_m
    assert result.stats["tracks"] == 13 and result.stats["outliers"] > 0


def test_too_little_history_is_a_clear_error() -> None:
    road = LineString(road_xy())
    rng = np.random.default_rng(1)
    tracks = [lonlat(noisy_track(rng, road, (30_000, 34_000))) for _ in range(2)]
    with pytest.raises(LearningError, match="at least 3"):
        learn_corridor(tracks, lonlat(road_xy(3)), LearningParams(min_tracks=3))
