"""Unit tests of payload decoding: every reason code, batch salvage, and a fuzz of the decoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.decode import DecodeLimits, Reason, decode
from tests.helpers import batch_payload, make_fix, single_payload

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIMITS = DecodeLimits(max_clock_skew=timedelta(minutes=5), max_age=timedelta(days=90))
TOPIC = "seals/AZS-000001/telemetry"


def _good(**changes: object) -> bytes:
    body = orjson.loads(single_payload("AZS-000001", make_fix(7, NOW - timedelta(seconds=30))))
    return orjson.dumps({**body, **changes})


def test_single_fix_is_accepted_with_every_field() -> None:
    out = decode(TOPIC, _good(), NOW, LIMITS)
    assert out.rejects == []
    [rec] = out.records
    assert (rec.seal_id, rec.seq, rec.seal_state, rec.received_at) == ("AZS-000001", 7, "closed", NOW)
    assert rec.t == NOW - timedelta(seconds=30) and rec.t.tzinfo is not None


def test_time_with_offset_is_normalised_to_utc() -> None:
    out = decode(TOPIC, _good(t="2026-11-23T15:59:00+04:00"), NOW, LIMITS)
    assert out.records[0].t == datetime(2026, 11, 23, 11, 59, tzinfo=UTC)


def test_optional_fields_may_be_absent() -> None:
    body = orjson.loads(_good())
    for key in ("speed_kmh", "heading_deg", "sats", "hdop"):
        del body[key]
    [rec] = decode(TOPIC, orjson.dumps(body), NOW, LIMITS).records
    assert rec.speed_kmh is None and rec.sats is None


def test_batch_is_accepted_in_order() -> None:
    fixes = [make_fix(i, NOW - timedelta(minutes=60 - i)) for i in range(50)]
    out = decode(TOPIC, batch_payload("AZS-000001", fixes), NOW, LIMITS)
    assert [r.seq for r in out.records] == list(range(50)) and out.rejects == []


def _reason(payload: bytes, topic: str = TOPIC) -> list[str]:
    out = decode(topic, payload, NOW, LIMITS)
    assert out.records == []
    assert [r.payload for r in out.rejects] == [payload] and all(r.detail for r in out.rejects)
    return [r.reason.value for r in out.rejects]


def test_each_kind_of_bad_input_has_its_reason() -> None:
    assert _reason(b"{not json") == [Reason.MALFORMED_JSON]
    assert _reason(b"") == [Reason.MALFORMED_JSON]
    assert _reason(b"[1, 2]") == [Reason.INVALID_PAYLOAD]
    assert _reason(_good(v=2)) == [Reason.UNSUPPORTED_VERSION]
    assert _reason(_good(lat=-90.5)) == [Reason.INVALID_PAYLOAD]
    assert _reason(_good(lon=180.01)) == [Reason.INVALID_PAYLOAD]
    assert _reason(_good(seq=-1)) == [Reason.INVALID_PAYLOAD]
    assert _reason(_good(battery_pct=101)) == [Reason.INVALID_PAYLOAD]
    assert _reason(_good(t="2026-11-23T11:00:00")) == [Reason.INVALID_PAYLOAD]  # no offset
    assert _reason(_good(extra={"x": 1})) == [Reason.INVALID_PAYLOAD]
    assert _reason(_good(t=(NOW + timedelta(minutes=6)).isoformat())) == [Reason.FUTURE_TIMESTAMP]
    assert _reason(_good(t=(NOW - timedelta(days=91)).isoformat())) == [Reason.TOO_OLD]
    assert _reason(_good(), "seals/AZS-000002/telemetry") == [Reason.TOPIC_MISMATCH]
    assert _reason(_good(), "seals/AZS-000001/status") == [Reason.BAD_TOPIC]


def test_error_detail_names_the_field() -> None:
    [reject] = decode(TOPIC, _good(lat=95), NOW, LIMITS).rejects
    assert reject.detail.startswith("lat:")


def test_clock_skew_within_limit_is_accepted() -> None:
    out = decode(TOPIC, _good(t=(NOW + timedelta(minutes=4)).isoformat()), NOW, LIMITS)
    assert len(out.records) == 1


def test_batch_keeps_good_fixes_and_rejects_each_bad_one() -> None:
    body = orjson.loads(batch_payload("AZS-000001", [make_fix(i, NOW - timedelta(minutes=9 - i)) for i in range(6)]))
    body["fixes"][1]["lat"] = 100
    body["fixes"][4]["t"] = "2099-01-01T00:00:00Z"
    out = decode(TOPIC, orjson.dumps(body), NOW, LIMITS)
    assert [r.seq for r in out.records] == [0, 2, 3, 5]
    assert sorted(r.reason.value for r in out.rejects) == ["future_timestamp", "invalid_payload"]
    # Each rejected fix is kept as a batch of one with the envelope, so it can be replayed.
    for reject in out.rejects:
        kept = orjson.loads(reject.payload)
        assert kept["seal_id"] == "AZS-000001" and len(kept["fixes"]) == 1


def test_batch_with_bad_envelope_is_rejected_whole() -> None:
    body = orjson.loads(batch_payload("AZS-000001", [make_fix(1, NOW)]))
    body["seal_id"] = "x"
    assert _reason(orjson.dumps(body)) == [Reason.INVALID_PAYLOAD]
    body["seal_id"] = "AZS-000009"
    assert _reason(orjson.dumps(body)) == [Reason.TOPIC_MISMATCH]


def test_empty_batch_is_rejected() -> None:
    assert _reason(orjson.dumps({"v": 1, "seal_id": "AZS-000001", "fixes": []})) == [Reason.INVALID_PAYLOAD]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=20,
)
fix_keys = st.sampled_from(
    [
        "seq",
        "t",
        "lat",
        "lon",
        "speed_kmh",
        "heading_deg",
        "sats",
        "hdop",
        "battery_pct",
        "seal_state",
        "v",
        "seal_id",
        "fixes",
        "sig",
    ]
)


@settings(max_examples=400, deadline=None)
@given(
    raw=st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(fix_keys, json_values, max_size=12).map(lambda d: json.dumps(d).encode()),
    topic=st.sampled_from([TOPIC, "seals/AZS-000001", "", "seals/+/telemetry", "seals/AZS-000002/telemetry"]),
)
def test_decoder_never_raises_and_accounts_for_every_message(raw: bytes, topic: str) -> None:
    out = decode(topic, raw, NOW, LIMITS)
    assert out.records or out.rejects
    for reject in out.rejects:
        assert isinstance(reject.reason, Reason) and reject.detail and isinstance(reject.payload, bytes)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lat", "40.5"),
        ("lon", "49.8"),
        ("lat", True),
        ("seq", 7.0),
        ("seq", "7"),
        ("sats", True),
        ("sats", 9.0),
        ("sats", "9"),
        ("battery_pct", "88"),
        ("speed_kmh", True),
        ("heading_deg", "90"),
        ("hdop", False),
        ("v", True),
        ("v", 1.0),
        ("t", 1795435200),
        ("seal_state", 1),
    ],
)
def test_v1_is_strict_a_wrong_type_is_invalid_payload_never_coerced(field: str, value: object) -> None:
    out = decode(TOPIC, _good(**{field: value}), NOW, LIMITS)
    assert out.records == []
    [reject] = out.rejects
    assert reject.reason is Reason.INVALID_PAYLOAD, reject.detail
    assert field in reject.detail


def test_v1_strict_applies_to_each_fix_of_a_batch() -> None:
    fixes = orjson.loads(batch_payload("AZS-000001", [make_fix(i, NOW - timedelta(seconds=60 - i)) for i in range(4)]))
    fixes["fixes"][1]["seq"] = 1.0
    fixes["fixes"][2]["lat"] = "40.4"
    out = decode(TOPIC, orjson.dumps(fixes), NOW, LIMITS)
    assert sorted(r.seq for r in out.records) == [0, 3]
    assert sorted(r.detail.split(":")[0] for r in out.rejects) == ["fixes.1.seq", "fixes.2.lat"]
    assert {r.reason for r in out.rejects} == {Reason.INVALID_PAYLOAD}


def test_whole_numbers_are_valid_floats() -> None:
    out = decode(TOPIC, _good(lat=40, lon=50, battery_pct=100, hdop=1), NOW, LIMITS)
    assert out.rejects == [] and (out.records[0].lat, out.records[0].lon) == (40.0, 50.0)


@pytest.mark.parametrize("t", ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
def test_a_time_whose_utc_instant_is_outside_the_calendar_is_invalid_payload_not_internal_error(t: str) -> None:
    out = decode(TOPIC, _good(t=t), NOW, LIMITS)
    [reject] = out.rejects
    assert reject.reason is Reason.INVALID_PAYLOAD
    assert reject.detail.startswith("t:") and "outside the range" in reject.detail
    batch = orjson.loads(batch_payload("AZS-000001", [make_fix(1, NOW), make_fix(2, NOW)]))
    batch["fixes"][0]["t"] = t
    out = decode(TOPIC, orjson.dumps(batch), NOW, LIMITS)
    assert [r.seq for r in out.records] == [2]
    assert [(r.reason, r.detail.split(":")[0]) for r in out.rejects] == [(Reason.INVALID_PAYLOAD, "fixes.0.t")]
