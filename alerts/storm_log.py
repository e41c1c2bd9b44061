"""Rate-limited logging of raised alerts: a few lines each, then one summary per window.

A storm (a broker backlog after an outage, thousands of seals going silent at once) would
otherwise write one line per alert and bury everything else in the log; the alerts themselves
are all stored and streamed, the log only needs their shape.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from sealwatch.logging import get_logger

log = get_logger(__name__)


class RaisedAlertLog:
    """Logs the first ``burst`` raised alerts of each ``window_s`` one line each; the rest of the
    window is counted by type and logged as one summary line when the window is over."""

    def __init__(self, burst: int = 10, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst = burst
        self.window_s = window_s
        self.clock = clock
        self._window_start = clock()
        self._logged = 0
        self._held: Counter[str] = Counter()

    def raised(self, **fields: Any) -> None:
        self.flush()
        if self._logged < self.burst:
            self._logged += 1
            log.info("alert raised", **fields)
        else:
            self._held[str(fields.get("type"))] += 1

    def flush(self, force: bool = False) -> None:
        """Log the summary of a finished window (or of the current one with ``force``)."""
        now = self.clock()
        if not force and now - self._window_start < self.window_s:
            return
        if self._held:
            log.info(
                "alerts raised (more than the log shows one by one)",
                not_shown=sum(self._held.values()),
                by_type=dict(sorted(self._held.items())),
                window_s=round(now - self._window_start, 1),
            )
        self._window_start, self._logged, self._held = now, 0, Counter()
