"""Fuzzing the decoder with signature checks on: whatever arrives, decode() returns and never raises."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.auth import KeyRing
from ingest.decode import DecodeLimits, Reason, decode
from sealwatch.wire import SigningKey, encode_single, sign
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


@settings(max_examples=200, deadline=None)
@given(changes=st.dictionaries(st.sampled_from(["lat", "lon", "seq", "battery_pct"]), st.integers(0, 50), min_size=1))
def test_any_change_to_a_signed_message_is_rejected(changes: dict[str, int]) -> None:
    body = {**GOOD, **changes}
    if all(GOOD[k] == v for k, v in changes.items()):
        return  # no actual change
    out = decode("seals/AZS-000001/telemetry", orjson.dumps(body), NOW, LIMITS, RING)
    assert out.records == []
    assert [r.reason for r in out.rejects] in ([Reason.BAD_SIGNATURE], [Reason.INVALID_PAYLOAD])


def test_the_genuine_message_is_accepted() -> None:
    out = decode("seals/AZS-000001/telemetry", orjson.dumps(GOOD), NOW, LIMITS, RING)
    assert out.rejects == [] and len(out.records) == 1
