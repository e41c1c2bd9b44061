"""Progress of a long start-up step: a bar redrawn in place on a terminal, a line now and then elsewhere."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    """``update(done, total)`` as work advances, ``close()`` at the end.

    On a terminal the bar is redrawn at most ten times a second; in a log or a pipe a line is
    written every ``every_s`` seconds (and at the end), so a redirected start-up still shows it moves.
    """

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        every_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every_s = every_s if not self.tty else 0.1
        self.clock = clock
        self.started = clock()
        self._last_shown = -1e9
        self._done = self._total = 0
        self._finished = False

    def update(self, done: int, total: int) -> None:
        if self._finished:
            return
        self._done, self._total = done, total
        now = self.clock()
        if done < total and now - self._last_shown < self.every_s:
            return
        self._last_shown = now
        self._show(now, final=done >= total)

    def close(self) -> None:
        if self._total and not self._finished:
            self._show(self.clock(), final=True)

    def _show(self, now: float, final: bool) -> None:
        done, total = self._done, max(self._total, 1)
        elapsed = now - self.started
        if self.tty:
            width = 30
            filled = width * done // total
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r  {self.label} [{bar}] {done}/{self._total} {elapsed:.0f}s")
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(f"  {self.label}: {done}/{self._total} ({100 * done // total}%) {elapsed:.0f}s\n")
        self._finished = final
        self.stream.flush()
