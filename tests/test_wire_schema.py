"""The published JSON Schema and the pydantic models must accept and reject the same payloads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from sealwatch.wire import json_schema, telemetry_adapter
from tests.helpers import batch_payload, make_fix, single_payload

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schemas" / "telemetry-v1.schema.json"


def test_committed_schema_is_generated_from_the_models() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(json_schema())), (
        "run: sealwatch schema -o schemas/telemetry-v1.schema.json"
    )


def test_examples_validate_against_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))
    validator.validate(orjson.loads(single_payload("AZS-000001", make_fix(1))))
    validator.validate(orjson.loads(batch_payload("AZS-000001", [make_fix(1), make_fix(2)])))


fields = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, "1", True]),
        "seal_id": st.sampled_from(["AZS-000001", "x", "AZS 01"]),
        "seq": st.integers(-2, 2**64),
        "t": st.sampled_from(["2026-11-23T10:00:00Z", "2026-11-23T10:00:00+04:00", "yesterday"]),
        "lat": st.floats(-100, 100) | st.just("40.5") | st.just(True),
        "lon": st.floats(-200, 200),
        "battery_pct": st.floats(-5, 105) | st.integers(-5, 105),
        "seal_state": st.sampled_from(["closed", "opened", "tampered", "open"]),
        "speed_kmh": st.floats(-1, 500),
        "heading_deg": st.floats(-1, 400),
        "sats": st.integers(-1, 70) | st.just(True) | st.just("9"),
        "hdop": st.floats(-1, 120),
        "other": st.integers(),
    },
)


@settings(max_examples=300, deadline=None)
@given(body=fields)
def test_schema_and_models_agree(body: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(
        json.loads(SCHEMA_FILE.read_text(encoding="utf-8")), format_checker=jsonschema.FormatChecker()
    )
    schema_ok = validator.is_valid(body)
    try:
        telemetry_adapter.validate_python(body)
        model_ok = True
    except ValueError:
        model_ok = False
    assert schema_ok == model_ok, body
