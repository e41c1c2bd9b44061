"""Every code a page shows in words has its words: control error codes, declaration states, channels."""

from __future__ import annotations

from customs.declarations import ErrorCode
from customs.lifecycle import Status
from customs.risk import Channel
from geofence.model import OBSERVATION_KINDS
from maps.vocabulary import CHANNELS, DECLARATION_STATUSES, ERROR_CODES, OBSERVATIONS, SEAL_STATES, words
from sealwatch.wire import SealState


def test_every_code_has_words() -> None:
    assert set(ERROR_CODES) == {c.value for c in ErrorCode}
    assert set(DECLARATION_STATUSES) == {s.value for s in Status}
    assert set(CHANNELS) == {c.value for c in Channel}
    assert set(OBSERVATIONS) == set(OBSERVATION_KINDS)
    assert set(SEAL_STATES) == {s.value for s in SealState}


def test_words_in_every_language() -> None:
    assert words("error_code", "net_exceeds_gross") == {
        "az": "Netto çəki brutto çəkidən çoxdur.",
        "ru": "Масса нетто больше массы брутто.",
        "en": "Net mass exceeds gross mass.",
    }
    assert words("alert_type", "no_such_type") == dict.fromkeys(("az", "ru", "en"), "no_such_type")
