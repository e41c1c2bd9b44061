"""Risk assessment: a versioned profile of weighted rules, channels, and random selection.

The rule evaluation and channel choice are pure (:func:`fire`, :func:`score_facts`); the
database side loads the active profile, counts past alerts, and stores the assessment with the
rules that fired, so an officer can see why a declaration went red.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from customs.db import Db
from customs.declarations import Declaration
from customs.errors import ConflictError, IllegalTransitionError, NotFoundError
from customs.reference import CURRENCY_USD
from customs.settings import CustomsSettings
from sealwatch.logging import get_logger

log = get_logger(__name__)


class Channel(StrEnum):
    GREEN = "green"
    BLUE = "blue"
    YELLOW = "yellow"
    RED = "red"


SEVERITY: Mapping[Channel, int] = {Channel.GREEN: 0, Channel.BLUE: 1, Channel.YELLOW: 2, Channel.RED: 3}
CONTROLS: Mapping[Channel, tuple[str, ...]] = {
    Channel.GREEN: (),
    Channel.BLUE: ("post_clearance_audit",),
    Channel.YELLOW: ("documents", "gps"),
    Channel.RED: ("documents", "gps", "xray", "physical"),
}
RULE_KINDS = ("hs_code", "origin_country", "declarant_history", "carrier_history", "value_per_kg", "route")


@dataclass(frozen=True, slots=True)
class RiskRule:
    id: int
    code: str
    kind: str
    weight: float
    params: Mapping[str, Any]
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class Facts:
    declaration: Declaration
    declarant_alert_transits: int = 0
    carrier_alert_transits: int = 0


class FiredRule(BaseModel):
    rule_id: int
    code: str
    kind: str
    weight: float
    explanation: str


class Score(BaseModel):
    score: float
    channel: Channel
    score_channel: Channel
    random_selected: bool
    fired: list[FiredRule]
    controls: list[str]
    monitored: bool


class Assessment(Score):
    id: int
    declaration_id: int
    profile_version: int
    assessed_at: datetime


def _usd(value: Decimal, currency: str) -> float:
    return float(value) * CURRENCY_USD.get(currency, 0.0)


def fire(rule: RiskRule, facts: Facts) -> str | None:
    """Why the rule fires on these facts, or None when it does not."""
    d, p = facts.declaration, rule.params
    if rule.kind == "hs_code":
        prefixes = [str(x) for x in p.get("prefixes", [])]
        hits = [f"item {i.item_no} HS {i.hs_code}" for i in d.items if any(i.hs_code.startswith(x) for x in prefixes)]
        return f"{', '.join(hits)} in {prefixes}" if hits else None
    if rule.kind == "origin_country":
        countries = {str(x).upper() for x in p.get("countries", [])}
        return f"origin {d.origin_country} is listed" if d.origin_country in countries else None
    if rule.kind in ("declarant_history", "carrier_history"):
        count = facts.declarant_alert_transits if rule.kind == "declarant_history" else facts.carrier_alert_transits
        who = "declarant" if rule.kind == "declarant_history" else "carrier"
        minimum = int(p.get("min_transits", 1))
        return f"{who} had {count} past transit(s) with alerts (>= {minimum})" if count >= minimum else None
    if rule.kind == "value_per_kg":
        refs = {str(k): float(v) for k, v in p.get("usd_per_kg", {}).items()}
        hits = []
        for i in d.items:
            ref = refs.get(i.hs_code[:2])
            if ref is None or i.net_mass_kg <= 0:
                continue
            per_kg = _usd(i.value, i.currency) / float(i.net_mass_kg)
            if per_kg < ref:
                hits.append(f"item {i.item_no}: {per_kg:.2f} USD/kg < {ref:.2f} for chapter {i.hs_code[:2]}")
        return "; ".join(hits) if hits else None
    if rule.kind == "route":
        routes = {str(x).upper() for x in p.get("routes", [])}
        return f"route {d.route_code} is listed" if d.route_code in routes else None
    log.warning("unknown risk rule kind ignored", rule=rule.code, kind=rule.kind)
    return None


def channel_for(score: float, settings: CustomsSettings) -> Channel:
    if score >= settings.red_from:
        return Channel.RED
    if score >= settings.yellow_from:
        return Channel.YELLOW
    if score >= settings.blue_from:
        return Channel.BLUE
    return Channel.GREEN


def random_selection(base: Channel, settings: CustomsSettings, rng: random.Random) -> Channel | None:
    """A lane stricter than ``base`` drawn at its minimum random rate, else None."""
    rates = {
        Channel.RED: settings.random_rate_red,
        Channel.YELLOW: settings.random_rate_yellow,
        Channel.BLUE: settings.random_rate_blue,
    }
    for lane in (Channel.RED, Channel.YELLOW, Channel.BLUE):
        draw = rng.random()  # always draw, so a seeded sequence does not depend on the base lane
        if SEVERITY[lane] > SEVERITY[base] and draw < rates[lane]:
            return lane
    return None


def score_facts(
    facts: Facts,
    rules: Sequence[RiskRule],
    settings: CustomsSettings,
    rng: random.Random,
    *,
    monitor_all: bool = False,
) -> Score:
    fired = []
    for rule in rules:
        why = fire(rule, facts)
        if why is not None:
            text = f"{rule.explanation}: {why}" if rule.explanation else why
            fired.append(
                FiredRule(rule_id=rule.id, code=rule.code, kind=rule.kind, weight=rule.weight, explanation=text)
            )
    score = sum(f.weight for f in fired)
    base = channel_for(score, settings)
    picked = random_selection(base, settings, rng)
    channel = picked or base
    monitored = monitor_all or channel.value in settings.monitored_channels
    controls = list(CONTROLS[channel])
    if monitored and "gps" not in controls:
        controls.append("gps")  # an e-seal means GPS tracking whatever the lane
    return Score(
        score=score,
        channel=channel,
        score_channel=base,
        random_selected=picked is not None,
        fired=fired,
        controls=controls,
        monitored=monitored,
    )


# -- database -----------------------------------------------------------------------------------------


async def load_profile(db: Db) -> tuple[int, list[RiskRule]]:
    profile = await db.one("SELECT version FROM risk_profiles WHERE active ORDER BY version DESC LIMIT 1")
    if profile is None:
        raise ConflictError("no active risk profile", code="no_risk_profile")
    rows = await db.all(
        """SELECT id, code, kind, weight, params, explanation FROM risk_rules
           WHERE profile_version = %s AND active ORDER BY id""",
        (profile["version"],),
    )
    rules = [RiskRule(r["id"], r["code"], r["kind"], float(r["weight"]), r["params"], r["explanation"]) for r in rows]
    return int(profile["version"]), rules


async def alert_history(db: Db, column: str, tin: str) -> int:
    """Past transits with alerts for a declarant or carrier; 0 until the alerts table exists."""
    exists = await db.one(
        """SELECT 1 AS ok FROM information_schema.columns
           WHERE to_regclass('alerts') IS NOT NULL AND table_name = 'alerts' AND column_name = 'transit_id'
             AND table_schema = current_schema()"""
    )
    if exists is None:
        return 0
    field = {"declarant": "declarant_tin", "carrier": "carrier_tin"}[column]
    row = await db.one(
        f"""SELECT count(DISTINCT t.transit_id) AS n FROM alerts a
            JOIN transits t ON t.transit_id = a.transit_id
            JOIN declarations d ON d.id = t.declaration_id
            WHERE d.{field} = %s""",
        (tin,),
    )
    return int(row["n"]) if row else 0


_ASSESSMENT_COLS = """id, declaration_id, profile_version, score, channel, score_channel, random_selected, fired,
                      controls, monitored, assessed_at"""


async def assess(
    db: Db,
    declaration_id: int,
    declaration: Declaration,
    status: str,
    settings: CustomsSettings,
    rng: random.Random,
    *,
    monitor_all: bool = False,
) -> Assessment:
    """Score an accepted declaration under the active profile and store the assessment."""
    if status != "accepted":
        raise IllegalTransitionError(
            f"declaration {declaration_id} is {status}: risk is assessed on accepted declarations only"
        )
    version, rules = await load_profile(db)
    facts = Facts(
        declaration=declaration,
        declarant_alert_transits=await alert_history(db, "declarant", declaration.declarant.tin),
        carrier_alert_transits=await alert_history(db, "carrier", declaration.carrier.tin),
    )
    result = score_facts(facts, rules, settings, rng, monitor_all=monitor_all)
    row = await db.one(
        f"""INSERT INTO risk_assessments (declaration_id, profile_version, score, channel, score_channel,
                random_selected, fired, controls, monitored)
            VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s) RETURNING {_ASSESSMENT_COLS}""",
        (
            declaration_id,
            version,
            result.score,
            result.channel.value,
            result.score_channel.value,
            result.random_selected,
            json.dumps([f.model_dump() for f in result.fired]),
            result.controls,
            result.monitored,
        ),
    )
    assert row is not None
    log.debug(
        "risk assessed",
        declaration_id=declaration_id,
        score=result.score,
        channel=result.channel.value,
        random_selected=result.random_selected,
    )
    return Assessment.model_validate(row)


async def latest_assessment(db: Db, declaration_id: int) -> Assessment | None:
    row = await db.one(
        f"SELECT {_ASSESSMENT_COLS} FROM risk_assessments WHERE declaration_id = %s ORDER BY id DESC LIMIT 1",
        (declaration_id,),
    )
    return Assessment.model_validate(row) if row else None


async def require_assessment(db: Db, declaration_id: int) -> Assessment:
    found = await latest_assessment(db, declaration_id)
    if found is None:
        raise NotFoundError(f"declaration {declaration_id} has no risk assessment")
    return found
