"""Segmented run-length primitives over a batch sorted by (seal slot, t).

A *segment* is the contiguous block of one seal's fixes. Every per-seal state machine in the engine
is expressed with these helpers (cumulative maxima over index arrays) instead of a Python loop over
fixes; state from earlier batches enters as a per-fix *carry* taken from the seal's state row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def segment_starts(slot: IntArray) -> BoolArray:
    """True at the first fix of each seal in a slot-sorted array."""
    starts = np.ones(slot.shape[0], dtype=bool)
    if slot.shape[0] > 1:
        np.not_equal(slot[1:], slot[:-1], out=starts[1:])
    return starts


def segment_first(starts: BoolArray) -> IntArray:
    """Index of the first fix of each fix's segment."""
    idx = np.arange(starts.shape[0], dtype=np.int64)
    return np.maximum.accumulate(np.where(starts, idx, 0))


def segment_ends(starts: BoolArray) -> BoolArray:
    """True at the last fix of each segment."""
    ends = np.ones(starts.shape[0], dtype=bool)
    if starts.shape[0] > 1:
        ends[:-1] = starts[1:]
    return ends


def latest_marked(mark: BoolArray, first: IntArray, *, strictly_before: bool) -> IntArray:
    """For each fix, the index of the latest marked fix of the same segment (before it, or at/before it).

    -1 where there is none; the caller then falls back to the seal's state row.
    """
    n = mark.shape[0]
    cand = np.where(mark, np.arange(n, dtype=np.int64), -1)
    if strictly_before:
        shifted = np.empty(n, dtype=np.int64)
        if n:
            shifted[0] = -1
            shifted[1:] = cand[:-1]
        cand = shifted
    acc = np.maximum.accumulate(cand) if n else cand
    # An index from an earlier segment is not this seal's: mask it out.
    return np.where(acc >= first, acc, -1)


def runs(
    flag: BoolArray,
    starts: BoolArray,
    t: FloatArray,
    carry_count: IntArray,
    carry_since: FloatArray,
    breaks: BoolArray | None = None,
) -> tuple[IntArray, FloatArray]:
    """Length and start time of the run of consecutive flagged fixes that ends at each fix.

    ``carry_count``/``carry_since`` are per fix (the seal's state): the run still open at the end
    of the previous batch, continued when the segment's first fix is flagged. Unflagged fixes get
    count 0 and since NaN. A flagged fix marked in ``breaks`` begins a new run (nothing carried).
    """
    n = flag.shape[0]
    idx = np.arange(n, dtype=np.int64)
    prev_flag = np.zeros(n, dtype=bool)
    if n > 1:
        prev_flag[1:] = flag[:-1]
    prev_flag[starts] = False
    if breaks is not None:
        prev_flag[breaks] = False
        starts = starts & ~breaks  # a run that begins at a break continues nothing
    run_start = flag & ~prev_flag
    start = np.maximum.accumulate(np.where(run_start, idx, 0)) if n else idx
    count = idx - start + 1
    since = t[start]
    carried = flag & starts[start] & (carry_count > 0)
    count = np.where(carried, count + carry_count, count)
    since = np.where(carried, carry_since, since)
    return np.where(flag, count, 0), np.where(flag, since, np.nan)
