"""What a virtual seal will do: its route, where it starts, how fast it drives, what goes wrong."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sealwatch.geography import ROUTES
from sealwatch.wire import SigningKey
from simulators.faults import Fault


@dataclass(frozen=True, slots=True)
class SealPlan:
    seal_id: str
    route_code: str
    start_m: float = 0.0  # distance already driven along the route when the simulation starts
    speed_kmh: float = 75.0  # cruise speed
    battery_pct: float = 95.0
    faults: tuple[Fault, ...] = field(default=())
    transit_id: str | None = None
    seed: int = 0
    key: SigningKey | None = None  # the seal signs every message with it; None sends unsigned
    # The road to drive, (lon, lat): the transit's own route line as customs released it (an
    # imported, edited or learned geometry). None: the route's seeded line.
    route_line: tuple[tuple[float, float], ...] | None = None


def seal_id_for(index: int) -> str:
    return f"AZS-{index + 1:05d}"


def default_plans(n: int, seed: int = 7, routes: list[str] | None = None) -> list[SealPlan]:
    """``n`` seals spread over the routes, starting somewhere in the first half of each."""
    from simulators.path import RoutePath

    rng = random.Random(seed)
    codes = routes or sorted(ROUTES)
    lengths = {code: RoutePath.of_route(code).length_m for code in codes}
    plans = []
    for i in range(n):
        code = codes[i % len(codes)]
        plans.append(
            SealPlan(
                seal_id=seal_id_for(i),
                route_code=code,
                start_m=rng.uniform(0.0, 0.5) * lengths[code],
                speed_kmh=rng.uniform(60.0, 90.0),
                battery_pct=rng.uniform(55.0, 100.0),
                seed=rng.randrange(2**31),
            )
        )
    return plans


def with_faults(plans: list[SealPlan], selected: list[tuple[str, Fault]]) -> list[SealPlan]:
    """Attach faults to seals chosen by id or by ``#index``; an unknown selector is an error."""
    by_id = {p.seal_id: i for i, p in enumerate(plans)}
    faults: dict[int, list[Fault]] = {}
    for selector, fault in selected:
        if selector.startswith("#"):
            index = int(selector[1:])
            if not 0 <= index < len(plans):
                raise ValueError(f"fault for seal {selector}: the fleet has {len(plans)} seals")
        elif selector in by_id:
            index = by_id[selector]
        else:
            raise ValueError(f"fault for unknown seal {selector!r}")
        faults.setdefault(index, []).append(fault)
    return [replace(p, faults=p.faults + tuple(faults.get(i, ()))) for i, p in enumerate(plans)]


def with_keys(plans: list[SealPlan], keys: Mapping[str, SigningKey]) -> list[SealPlan]:
    """Give each seal its signing key (seals missing from ``keys`` keep theirs, or stay unsigned)."""
    return [replace(p, key=keys.get(p.seal_id, p.key)) for p in plans]
