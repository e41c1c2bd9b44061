"""Property tests: any body validates or yields known codes; the API never answers 5xx."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.customs_routes import risk_rng
from customs.declarations import ErrorCode, check_declaration
from customs.reference import from_geography
from sealwatch.config import Settings
from tests.customs.bodies import valid_body
from tests.login import auth

REF = from_geography()
KNOWN = set(ErrorCode)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from([*sorted(valid_body()), "extra"])
item_fields = st.sampled_from(sorted(valid_body()["items"][0]))
plausible = {
    "hs_code": st.from_regex(r"\A[0-9]{4,12}\Z") | st.text(max_size=12),
    "currency": st.sampled_from(["USD", "EUR", "AZN", "XXX", "usd", ""]),
    "gross_mass_kg": st.floats(-10, 1e12, allow_nan=False) | st.integers(-5, 10**13),
    "net_mass_kg": st.floats(-10, 1e12, allow_nan=False) | st.integers(-5, 10**13),
    "value": st.floats(-10, 1e12, allow_nan=False),
    "packages": st.integers(-3, 10**10) | st.floats(allow_nan=False, allow_infinity=False),
    "description": st.text(max_size=20),
}
offices = st.sampled_from(["AZRBR", "AZBAK", "AZALT", "AZGNJ", "AZSAM", "GAZ", "XXXXX", ""])


def _two_item_dicts(body: dict[str, Any]) -> bool:
    items = body.get("items")
    return isinstance(items, list) and len(items) == 2 and all(isinstance(i, dict) for i in items)


@st.composite
def mutated_bodies(draw: st.DrawFn) -> Any:
    """A valid body with a few fields replaced by plausible or arbitrary values."""
    body = valid_body()
    for _ in range(draw(st.integers(0, 4))):
        choice = draw(st.integers(0, 3))
        if choice == 0:
            body[draw(field_names)] = draw(json_values)
        elif choice == 1 and _two_item_dicts(body):
            name = draw(item_fields)
            body["items"][draw(st.integers(0, 1))][name] = draw(plausible[name])
        elif choice == 2:
            body[draw(st.sampled_from(["office_of_departure", "office_of_destination"]))] = draw(offices)
        elif choice == 3:
            body.pop(draw(field_names), None)
    return body


bodies = json_values | mutated_bodies()


@settings(max_examples=400, deadline=None)
@given(bodies)
def test_control_validates_or_returns_only_known_codes(body: Any) -> None:
    checked = check_declaration(body, REF)
    assert (checked.declaration is None) == bool(checked.errors)
    assert all(e.code in KNOWN and isinstance(e.path, str) for e in checked.errors)
    if checked.declaration is not None:
        d = checked.declaration
        assert all(0 < i.net_mass_kg <= i.gross_mass_kg and i.value >= 0 and i.packages >= 1 for i in d.items)
        assert d.itinerary_places[0] == d.office_of_departure and d.itinerary_places[-1] == d.office_of_destination


class LoopClient:
    """An httpx.AsyncClient on the app (inside its lifespan), driven from sync hypothesis examples."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        app = create_app(Settings(database_url=url))
        app.dependency_overrides[risk_rng] = lambda: random.Random(1)
        self.loop.run_until_complete(self.stack.enter_async_context(app.router.lifespan_context(app)))
        transport = httpx.ASGITransport(app=app)
        self.client = self.loop.run_until_complete(
            self.stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://test", headers=auth(url))
            )
        )

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(path, json=body))

    def close(self) -> None:
        self.loop.run_until_complete(self.stack.aclose())
        self.loop.close()


@pytest.fixture
def api(migrated_db: str) -> Iterator[LoopClient]:
    client = LoopClient(migrated_db)
    yield client
    client.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies)
def test_api_never_answers_5xx(api: LoopClient, body: Any) -> None:
    resp = api.post("/api/declarations", body)
    assert resp.status_code in (201, 409, 422), resp.text
    if resp.status_code == 422 and "errors" in resp.json():
        assert {e["code"] for e in resp.json()["errors"]} <= {c.value for c in KNOWN}
    if resp.status_code == 201:
        assert resp.json()["status"] in ("accepted", "held")
