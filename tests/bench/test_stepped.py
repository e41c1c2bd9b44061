"""The stepped load offers each step's rate for exactly that step's seconds."""

from __future__ import annotations

from bisect import bisect_left
from itertools import pairwise

import pytest

from bench.stepped import Step, build
from simulators.plans import default_plans


@pytest.mark.parametrize("rates", [[250.0, 500.0, 1000.0], [30.0, 70.0, 45.0]])
def test_each_step_offers_its_rate_within_its_own_window(rates: list[float]) -> None:
    # Ticks of 200 seals at these rates do not divide the steps evenly: a tick straddles each boundary.
    plans = default_plans(200)
    steps = [Step(r, 7.0) for r in rates]
    start = 1_800_000_000.0
    stream = build(plans, steps, start)
    assert stream.due == sorted(stream.due)
    bounds = [start + 7.0 * k for k in range(len(steps) + 1)]
    in_window = [bisect_left(stream.due, hi) - bisect_left(stream.due, lo) for lo, hi in pairwise(bounds)]
    assert in_window == stream.per_step
    for step, n in zip(steps, stream.per_step, strict=True):
        assert abs(n - step.rate * step.seconds) <= len(plans) * 0.01 + 1, (step, n)
    # Every seal keeps reporting: none waits more than two ticks of the slowest step.
    last: dict[str, float] = {}
    gaps = []
    for (topic, _), due in zip(stream.messages, stream.due, strict=True):
        seal = topic.split("/")[1]
        if seal in last:
            gaps.append(due - last[seal])
        last[seal] = due
    assert max(gaps) <= 2 * len(plans) / min(rates)
