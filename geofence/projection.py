"""WGS 84 <-> metric CRS projection, shared by the engine, the zone helpers and the benchmarks.

Everything that measures distances or builds buffers works in ``METRIC_CRS`` (UTM 38N); fixes and
observations stay in (lon, lat). Transformers are built once per process because building one costs
milliseconds while transforming an array of thousands of points costs well under one.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import pyproj

from sealwatch.geography import METRIC_CRS, WGS84

FloatArray = npt.NDArray[np.float64]


@lru_cache(maxsize=1)
def _forward() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(WGS84, METRIC_CRS, always_xy=True)


@lru_cache(maxsize=1)
def _inverse() -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(METRIC_CRS, WGS84, always_xy=True)


def to_metric(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Project arrays of (lon, lat) degrees to metric (x, y) metres."""
    x, y = _forward().transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def to_lonlat(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Inverse of :func:`to_metric`: metric (x, y) back to (lon, lat) degrees."""
    lon, lat = _inverse().transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def point_to_metric(lon: float, lat: float) -> tuple[float, float]:
    """Scalar projection (the per-fix reference uses it; same PROJ pipeline as the array form)."""
    x, y = _forward().transform(lon, lat)
    return float(x), float(y)


def point_to_lonlat(x: float, y: float) -> tuple[float, float]:
    lon, lat = _inverse().transform(x, y)
    return float(lon), float(lat)


def ring_to_metric(lonlat: Sequence[tuple[float, float]]) -> npt.NDArray[np.float64]:
    """Project a (lon, lat) vertex list to an (n, 2) array of metric coordinates."""
    arr = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
    x, y = to_metric(arr[:, 0], arr[:, 1])
    return np.column_stack([x, y])


def ring_to_lonlat(xy: npt.NDArray[np.float64]) -> list[tuple[float, float]]:
    """Inverse of :func:`ring_to_metric`, as a plain (lon, lat) list for the specs."""
    lon, lat = to_lonlat(xy[:, 0], xy[:, 1])
    return [(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]
