"""Per-seal state between batches, as numpy arrays indexed by seal slot.

One row per active transit's seal. Refreshing the transit list builds new arrays and copies the
rows of seals whose transit is still there, so a refresh with the same specs changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


@dataclass(slots=True)
class SealStates:
    """Columns of per-seal state; NaN times mean "none yet"."""

    last_t: npt.NDArray[np.float64]  # last accepted fix (jumps included): older fixes are stale
    px: npt.NDArray[np.float64]  # last plausible fix, metric x
    py: npt.NDArray[np.float64]
    pt: npt.NDArray[np.float64]
    plat: npt.NDArray[np.float64]
    plon: npt.NDArray[np.float64]
    zones: npt.NDArray[np.uint8]  # bit-packed (little) zone membership at the last plausible fix
    outside: npt.NDArray[np.bool_]  # corridor state after hysteresis
    out_count: npt.NDArray[np.int64]  # open run of out fixes ending at the last plausible fix
    out_since: npt.NDArray[np.float64]
    in_count: npt.NDArray[np.int64]
    in_since: npt.NDArray[np.float64]
    slow_count: npt.NDArray[np.int64]
    slow_since: npt.NDArray[np.float64]
    stopped: npt.NDArray[np.bool_]
    stop_started_at: npt.NDArray[np.float64]
    stop_authorized: npt.NDArray[np.bool_]
    arrived: npt.NDArray[np.bool_]
    seg_hint: IntArray  # route segment nearest to the last fix (speed-up only, never changes results)

    @classmethod
    def empty(cls, n: int, n_zones: int) -> SealStates:
        def nan() -> npt.NDArray[np.float64]:
            return np.full(n, np.nan)

        def zero_i() -> IntArray:
            return np.zeros(n, dtype=np.int64)

        def false() -> npt.NDArray[np.bool_]:
            return np.zeros(n, dtype=bool)

        return cls(
            last_t=np.full(n, -np.inf),
            px=nan(),
            py=nan(),
            pt=nan(),
            plat=nan(),
            plon=nan(),
            zones=np.zeros((n, zone_bytes(n_zones)), dtype=np.uint8),
            outside=false(),
            out_count=zero_i(),
            out_since=nan(),
            in_count=zero_i(),
            in_since=nan(),
            slow_count=zero_i(),
            slow_since=nan(),
            stopped=false(),
            stop_started_at=nan(),
            stop_authorized=false(),
            arrived=false(),
            seg_hint=zero_i(),
        )

    def copy_rows(self, src: SealStates, dst_rows: IntArray, src_rows: IntArray) -> None:
        """Copy state rows ``src[src_rows]`` into ``self[dst_rows]`` (zone bits must already match)."""
        for f in fields(self):
            getattr(self, f.name)[dst_rows] = getattr(src, f.name)[src_rows]

    def remap_zones(self, old_to_new: IntArray, n_new: int) -> None:
        """Re-index zone bits after a zone refresh; ``old_to_new[z]`` is -1 for a dropped zone."""
        n_old = old_to_new.shape[0]
        old = np.unpackbits(self.zones, axis=1, count=n_old, bitorder="little").astype(bool)
        new = np.zeros((self.zones.shape[0], n_new), dtype=bool)
        keep = old_to_new >= 0
        new[:, old_to_new[keep]] = old[:, keep]
        self.zones = pack_zones(new, n_new)

    def nbytes(self) -> int:
        return sum(int(getattr(self, f.name).nbytes) for f in fields(self))


def zone_bytes(n_zones: int) -> int:
    return max(1, (n_zones + 7) // 8)


def pack_zones(member: npt.NDArray[np.bool_], n_zones: int) -> npt.NDArray[np.uint8]:
    packed = np.packbits(member, axis=1, bitorder="little")
    if packed.shape[1] < zone_bytes(n_zones):  # zero zones still keep one byte column
        packed = np.zeros((member.shape[0], zone_bytes(n_zones)), dtype=np.uint8)
    return packed
