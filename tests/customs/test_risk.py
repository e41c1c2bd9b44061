"""Risk rules, channel thresholds, random selection and monitoring, as pure functions."""

from __future__ import annotations

import random
from typing import Any

import pytest

from customs.declarations import Declaration, check_declaration
from customs.reference import from_geography
from customs.risk import Channel, Facts, RiskRule, channel_for, fire, random_selection, score_facts
from customs.settings import CustomsSettings
from tests.customs.bodies import valid_body

NO_RANDOM = CustomsSettings(random_rate_red=0, random_rate_yellow=0, random_rate_blue=0)


def decl(**changes: Any) -> Declaration:
    checked = check_declaration(valid_body(**changes), from_geography())
    assert checked.declaration is not None, checked.errors
    return checked.declaration


def rule(kind: str, params: dict[str, Any], weight: float = 10, code: str = "R") -> RiskRule:
    return RiskRule(id=1, code=code, kind=kind, weight=weight, params=params, explanation="why")


@pytest.mark.parametrize(
    ("kind", "fires", "quiet"),
    [
        ("hs_code", {"prefixes": ["8471"]}, {"prefixes": ["2208"]}),
        ("origin_country", {"countries": ["TR"]}, {"countries": ["SY"]}),
        ("route", {"routes": ["RBR-BAK"]}, {"routes": ["SAM-BAK"]}),
        ("value_per_kg", {"usd_per_kg": {"84": 500.0}}, {"usd_per_kg": {"84": 100.0}}),
    ],
)
def test_declaration_rules_fire_only_when_matching(kind: str, fires: dict[str, Any], quiet: dict[str, Any]) -> None:
    facts = Facts(declaration=decl())  # laptops: 198000 USD / 1100 kg = 180 USD/kg, from TR on RBR-BAK
    assert fire(rule(kind, fires), facts) is not None
    assert fire(rule(kind, quiet), facts) is None


def test_value_per_kg_converts_currency() -> None:
    body = valid_body()
    body["items"][1]["currency"] = "AZN"  # 12000 AZN ≈ 7056 USD / 760 kg ≈ 9.3 USD/kg
    facts = Facts(declaration=decl(items=body["items"]))
    assert fire(rule("value_per_kg", {"usd_per_kg": {"61": 10.0}}), facts) is not None
    assert fire(rule("value_per_kg", {"usd_per_kg": {"61": 9.0}}), facts) is None


@pytest.mark.parametrize("kind", ["declarant_history", "carrier_history"])
def test_history_rules_use_alert_counts(kind: str) -> None:
    field = "declarant_alert_transits" if kind == "declarant_history" else "carrier_alert_transits"
    r = rule(kind, {"min_transits": 2})
    assert fire(r, Facts(declaration=decl(), **{field: 1})) is None
    assert "2 past transit" in (fire(r, Facts(declaration=decl(), **{field: 2})) or "")


def test_unknown_kind_never_fires() -> None:
    assert fire(rule("astrology", {}), Facts(declaration=decl())) is None


def test_channel_thresholds() -> None:
    s = CustomsSettings()
    assert [channel_for(x, s) for x in (0, 14.9, 15, 30, 59, 60, 500)] == [
        Channel.GREEN, Channel.GREEN, Channel.BLUE, Channel.YELLOW, Channel.YELLOW, Channel.RED, Channel.RED,
    ]  # fmt: skip


def test_score_sums_fired_weights_and_explains() -> None:
    rules = [
        rule("hs_code", {"prefixes": ["8471"]}, 15, "ELEC"),
        rule("route", {"routes": ["RBR-BAK"]}, 20, "LONG"),
        rule("origin_country", {"countries": ["SY"]}, 50, "ORIGIN"),
    ]
    result = score_facts(Facts(declaration=decl()), rules, NO_RANDOM, random.Random(0))
    assert result.score == 35 and result.channel is Channel.YELLOW and not result.random_selected
    assert [f.code for f in result.fired] == ["ELEC", "LONG"]
    assert all(f.explanation.startswith("why: ") for f in result.fired)
    assert result.controls == ["documents", "gps"] and result.monitored


def test_controls_and_monitoring_per_channel() -> None:
    green = score_facts(Facts(declaration=decl()), [], NO_RANDOM, random.Random(0))
    assert green.channel is Channel.GREEN and green.controls == [] and not green.monitored
    demo = score_facts(Facts(declaration=decl()), [], NO_RANDOM, random.Random(0), monitor_all=True)
    assert demo.monitored and demo.controls == ["gps"]
    heavy = [rule("route", {"routes": ["RBR-BAK"]}, 99)]
    red = score_facts(Facts(declaration=decl()), heavy, NO_RANDOM, random.Random(0))
    assert red.controls == ["documents", "gps", "xray", "physical"] and red.monitored


def test_random_selection_is_seeded_and_only_escalates() -> None:
    always_red = CustomsSettings(random_rate_red=1.0, random_rate_yellow=0, random_rate_blue=0)
    assert random_selection(Channel.GREEN, always_red, random.Random(3)) is Channel.RED
    assert random_selection(Channel.RED, always_red, random.Random(3)) is None
    result = score_facts(Facts(declaration=decl()), [], always_red, random.Random(3))
    assert result.channel is Channel.RED and result.score_channel is Channel.GREEN and result.random_selected
    # The rate is respected over many draws from a seeded generator.
    s = CustomsSettings(random_rate_red=0, random_rate_yellow=0.1, random_rate_blue=0)
    rng = random.Random(42)
    hits = sum(random_selection(Channel.GREEN, s, rng) is Channel.YELLOW for _ in range(5000))
    assert 400 < hits < 600
