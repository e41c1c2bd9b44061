"""Where a benchmark's CPU went: per-process CPU seconds between two snapshots (Linux /proc).

On a small machine the load generator, the broker, PostgreSQL and the service share the cores;
a latency figure means little without knowing who spent them. Elsewhere (no /proc) it is empty.
"""

from __future__ import annotations

import os
from pathlib import Path

Snapshot = dict[int, tuple[str, float]]  # pid → (command name, CPU seconds so far)

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def snapshot() -> Snapshot:
    out: Snapshot = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = entry.read_text()
        except OSError:  # the process ended between listing and reading
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        out[int(entry.parent.name)] = (name, (int(fields[11]) + int(fields[12])) / _TICKS)
    return out


def usage(before: Snapshot, after: Snapshot, labels: dict[int, str]) -> dict[str, float]:
    """CPU seconds spent between the snapshots, by label (given pids) or else by command name."""
    spent: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        delta = seconds - before.get(pid, (name, 0.0))[1]
        if delta > 0:
            label = labels.get(pid, name)
            spent[label] = spent.get(label, 0.0) + delta
    return dict(sorted(spent.items(), key=lambda kv: -kv[1]))


def describe(spent: dict[str, float], seconds: float, top: int = 6) -> str:
    """``ingest 0.93 cores, postgres 0.41, ...`` over a window of ``seconds``."""
    parts = [f"{label} {cpu / seconds:.2f}" for label, cpu in list(spent.items())[:top]]
    total = sum(spent.values()) / seconds
    return f"CPU in cores (of {os.cpu_count()}): " + ", ".join(parts) + f"; all processes {total:.2f}"
