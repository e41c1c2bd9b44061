"""Fuzzing the decoder with signature checks on: whatever arrives, decode() returns and never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ingest.auth import KeyRing
from ingest.decode import DecodeLimits, Reason, decode
from sealwatch.wire import SealState, SigningKey, encode_single, sign
from store.seal_keys import VerificationKey
from tests.helpers import make_fix

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LIMITS = DecodeLimits(max_clock_skew=timedelta(minutes=5), max_age=timedelta(days=30))
KEY = SigningKey("k1", b"\x01" * 32)
RING = KeyRing(require_signatures=True)
RING.replace_all({"AZS-000001": [VerificationKey(KEY.kid, KEY.secret, None)]})
GOOD = sign(encode_single("AZS-000001", make_fix(1, NOW)), KEY)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# Mutations of a genuinely signed message: fields replaced, removed or added.
mutated = st.builds(
    # stdlib json: big integers and Infinity pass through, as a hostile sender might write them.
    lambda changes, drop: json.dumps({k: v for k, v in {**GOOD, **changes}.items() if k not in drop}).encode(),
    st.dictionaries(st.sampled_from([*GOOD, "fixes", "extra"]), json_values, max_size=3),
    st.sets(st.sampled_from(list(GOOD)), max_size=2),
)
topics = st.sampled_from(["seals/AZS-000001/telemetry", "seals/AZS-000002/telemetry", "seals/x/telemetry", "other"])


@settings(max_examples=600, deadline=None)
@given(topic=topics, payload=st.binary(max_size=300) | mutated)
def test_no_exception_escapes_decode(topic: str, payload: bytes) -> None:
    out = decode(topic, payload, NOW, LIMITS, RING)
    assert len(out.records) + len(out.rejects) >= 1
    for reject in out.rejects:
        assert isinstance(reject.reason, Reason) and reject.detail


# The tamper property's keys: a second seal and a second key id with the same secret, so that a
# changed seal_id or kid verifies unless the signature covers it.
TWIN_RING = KeyRing(require_signatures=True)
TWIN_RING.replace_all(
    {
        "AZS-000001": [VerificationKey(KEY.kid, KEY.secret, None), VerificationKey("k2", KEY.secret, None)],
        "AZS-000002": [VerificationKey(KEY.kid, KEY.secret, None)],
    }
)


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


# A valid other value for every signed field (v has no other valid value): a change the payload
# rules would reject proves nothing about the signature, so each stays valid.
VALID_CHANGES: dict[str, st.SearchStrategy[object]] = {
    "seal_id": st.just("AZS-000002"),
    "kid": st.just("k2"),
    "seq": st.integers(0, 2**62),
    "t": st.builds(
        lambda ago, hours: (NOW - timedelta(seconds=ago)).astimezone(timezone(timedelta(hours=hours))).isoformat(),
        st.integers(0, 3600),
        st.integers(-12, 14),
    ),
    "lat": _floats(-90, 90),
    "lon": _floats(-180, 180),
    "speed_kmh": _floats(0, 400),
    "heading_deg": _floats(0, 359.5),
    "sats": st.integers(0, 64),
    "hdop": _floats(0, 99.9),
    "battery_pct": _floats(0, 100),
    "seal_state": st.sampled_from([s.value for s in SealState]),
}


def test_the_tamper_property_covers_every_signed_field() -> None:
    assert set(VALID_CHANGES) | {"v", "sig"} == set(GOOD)


@st.composite
def tampered(draw: st.DrawFn) -> dict[str, object]:
    fields = draw(st.sets(st.sampled_from(sorted(VALID_CHANGES)), min_size=1))
    changes = {}
    for f in fields:
        value = draw(VALID_CHANGES[f])
        assume(str(value) != str(GOOD[f]))
        changes[f] = value
    return {**GOOD, **changes}


@pytest.mark.parametrize("field", sorted(VALID_CHANGES))
def test_a_change_to_each_signed_field_alone_is_a_bad_signature(field: str) -> None:
    body = {**GOOD, field: _one_change(field)}
    _assert_forged(body)


def _one_change(field: str) -> object:
    fixed = {
        "seal_id": "AZS-000002",
        "kid": "k2",
        "seq": 2,
        "t": (NOW - timedelta(seconds=1)).isoformat(),
        "lat": 40.5,
        "lon": 49.9,
        "speed_kmh": 61.0,
        "heading_deg": 91.0,
        "sats": 10,
        "hdop": 1.0,
        "battery_pct": 87.0,
        "seal_state": "opened",
    }
    assert fixed[field] != GOOD[field]
    return fixed[field]


def _assert_forged(body: dict[str, object]) -> None:
    # The message goes to the topic of the seal it names: only the signature can tell it is forged.
    topic = f"seals/{body['seal_id']}/telemetry"
    payload = orjson.dumps(body)
    unchecked = decode(topic, payload, NOW, LIMITS)  # without signatures: a valid message
    assert unchecked.rejects == [] and len(unchecked.records) == 1
    out = decode(topic, payload, NOW, LIMITS, TWIN_RING)
    assert out.records == []
    assert [r.reason for r in out.rejects] == [Reason.BAD_SIGNATURE], [r.detail for r in out.rejects]


@settings(max_examples=300, deadline=None)
@given(body=tampered())
def test_any_change_to_a_signed_message_is_a_bad_signature(body: dict[str, object]) -> None:
    _assert_forged(body)


def test_the_genuine_message_verifies_with_each_twin_key() -> None:
    for kid in ("k1", "k2"):
        body = sign({k: v for k, v in GOOD.items() if k not in ("kid", "sig")}, SigningKey(kid, KEY.secret))
        out = decode("seals/AZS-000001/telemetry", orjson.dumps(body), NOW, LIMITS, TWIN_RING)
        assert out.rejects == [] and len(out.records) == 1


def test_the_genuine_message_is_accepted() -> None:
    out = decode("seals/AZS-000001/telemetry", orjson.dumps(GOOD), NOW, LIMITS, RING)
    assert out.rejects == [] and len(out.records) == 1
