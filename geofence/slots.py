"""Seal id → state slot lookup for a whole batch without hashing Python strings one by one.

Batch seal ids arrive as fresh ``str`` objects, so a dict lookup pays a string hash per fix. Instead
the object array is converted once to fixed-width unicode (a C loop), its code points are mixed
into a 64-bit key per row with a few vectorized multiply/xor passes, and the keys are looked up in
an open-addressing table (linear probing, load <= 1/2) with vectorized gathers. Every hit is
verified by comparing the strings themselves; a mismatch (64-bit key collision) falls back to the
dict, so the result is always exact.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
_MUL = np.uint64(0x9E3779B97F4A7C15)


def _keys(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Mix rows of 64-bit words (two UCS-4 code points each) into one 64-bit key per row."""
    h = np.full(words.shape[0], np.uint64(0xCBF29CE484222325), dtype=np.uint64)
    for j in range(words.shape[1]):
        h ^= words[:, j]
        h *= _MUL
        h ^= h >> np.uint64(29)
    return h


class SlotIndex:
    """Maps seal ids to slots ``0..n-1`` (their position in ``ids``); unknown ids map to -1."""

    def __init__(self, ids: list[str]) -> None:
        n = len(ids)
        self._dict = {s: i for i, s in enumerate(ids)}
        self._width = max((len(s) for s in ids), default=1)
        # One spare code point (a batch id longer than every known id shows up as non-zero there),
        # rounded up to an even count so rows can be read as 64-bit words.
        self._dtype = np.dtype(f"U{(self._width + 2) // 2 * 2}")
        self._ids = np.asarray(ids, dtype=self._dtype).reshape(n)
        keys = _keys(self._ids.view(np.uint64).reshape(n, self._dtype.itemsize // 8))
        size = 1 << max(4, int(2 * max(n, 1) - 1).bit_length())
        self._mask = np.uint64(size - 1)
        self._table_key = np.zeros(size, dtype=np.uint64)
        self._table_slot = np.full(size, -1, dtype=np.int64)
        # Build in rounds: in round p every pending id tries home+p; one winner per free cell.
        pending = np.arange(n, dtype=np.int64)
        probe = 0
        while pending.size:
            pos = ((keys[pending] + np.uint64(probe)) & self._mask).astype(np.int64)
            free = self._table_slot[pos] == -1
            cells, first = np.unique(pos[free], return_index=True)
            winners = pending[free][first]
            self._table_slot[cells] = winners
            self._table_key[cells] = keys[winners]
            placed = np.zeros(n, dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            probe += 1
        self._max_probe = probe

    def __len__(self) -> int:
        return len(self._dict)

    def get(self, seal_id: str) -> int | None:
        return self._dict.get(seal_id)

    def lookup(self, seal_ids: npt.NDArray[np.object_]) -> IntArray:
        n = seal_ids.shape[0]
        slot = np.full(n, -1, dtype=np.int64)
        if not n or not self._dict:
            return slot
        arr = seal_ids.astype(self._dtype)
        keys = _keys(arr.view(np.uint64).reshape(n, self._dtype.itemsize // 8))
        active = np.flatnonzero(arr.view(np.uint32).reshape(n, self._dtype.itemsize // 4)[:, self._width] == 0)
        for probe in range(self._max_probe):
            pos = ((keys[active] + np.uint64(probe)) & self._mask).astype(np.int64)
            cell = self._table_slot[pos]
            hit = (cell >= 0) & (self._table_key[pos] == keys[active])
            slot[active[hit]] = cell[hit]
            active = active[~hit & (cell >= 0)]
            if not active.size:
                break
        found = np.flatnonzero(slot >= 0)
        wrong = found[self._ids[slot[found]] != arr[found]]
        if wrong.size:  # 64-bit key collision: resolve exactly
            slot[wrong] = [self._dict.get(s, -1) for s in seal_ids[wrong].tolist()]
        return slot
