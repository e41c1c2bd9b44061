"""The decoded fix as the stages after ingest see it: a row, and a columnar batch of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from sealwatch.wire import Fix, SealState

STATE_CODES: dict[str, int] = {SealState.CLOSED: 0, SealState.OPENED: 1, SealState.TAMPERED: 2}


class FixRecord(NamedTuple):
    """One accepted fix, in the column order of the ``fixes`` table."""

    seal_id: str
    seq: int
    t: datetime
    lat: float
    lon: float
    speed_kmh: float | None
    heading_deg: float | None
    sats: int | None
    hdop: float | None
    battery_pct: float
    seal_state: str
    received_at: datetime

    @classmethod
    def of(cls, seal_id: str, fix: Fix, received_at: datetime) -> FixRecord:
        return cls(
            seal_id,
            fix.seq,
            fix.t,
            fix.lat,
            fix.lon,
            fix.speed_kmh,
            fix.heading_deg,
            fix.sats,
            fix.hdop,
            fix.battery_pct,
            fix.seal_state.value,
            received_at,
        )


@dataclass(frozen=True, slots=True)
class FixBatch:
    """Columnar view of a batch of fixes, for vectorized checks (one array per column).

    ``t`` is seconds since the Unix epoch; ``speed_kmh`` is NaN where the seal sent none;
    ``state`` holds ``STATE_CODES``.
    """

    seal_id: npt.NDArray[np.object_]
    seq: npt.NDArray[np.int64]
    t: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    speed_kmh: npt.NDArray[np.float64]
    battery_pct: npt.NDArray[np.float64]
    state: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.seq.shape[0])

    @classmethod
    def from_records(cls, records: list[FixRecord]) -> FixBatch:
        n = len(records)
        return cls(
            seal_id=np.array([r.seal_id for r in records], dtype=object).reshape(n),
            seq=np.fromiter((r.seq for r in records), dtype=np.int64, count=n),
            t=np.fromiter((r.t.timestamp() for r in records), dtype=np.float64, count=n),
            lat=np.fromiter((r.lat for r in records), dtype=np.float64, count=n),
            lon=np.fromiter((r.lon for r in records), dtype=np.float64, count=n),
            speed_kmh=np.fromiter(
                (np.nan if r.speed_kmh is None else r.speed_kmh for r in records), dtype=np.float64, count=n
            ),
            battery_pct=np.fromiter((r.battery_pct for r in records), dtype=np.float64, count=n),
            state=np.fromiter((STATE_CODES[r.seal_state] for r in records), dtype=np.int8, count=n),
        )
