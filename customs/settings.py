"""Customs settings (environment prefix ``SEALWATCH_CUSTOMS_``), kept apart from the shared Settings."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CustomsSettings(BaseSettings):
    """Every setting has a working default; ``SEALWATCH_CUSTOMS_<NAME>`` changes it."""

    model_config = SettingsConfigDict(env_prefix="SEALWATCH_CUSTOMS_", extra="ignore")

    # Corridor: the route polyline is buffered by this distance (metres, metric CRS).
    corridor_width_m: float = Field(default=2000.0, gt=0, le=50_000)
    # Radius of the circular zone built around an office or checkpoint.
    office_zone_radius_m: float = Field(default=1500.0, gt=0, le=20_000)

    # Seals below this battery level are refused at release: they would die mid-transit.
    low_battery_refuse_pct: float = Field(default=30.0, ge=0, le=100)
    max_seals_per_transit: int = Field(default=4, ge=1, le=50)
    max_items: int = Field(default=999, ge=1)  # NCTS limit on goods items per declaration

    # Risk channel thresholds on the score (sum of fired rule weights).
    blue_from: float = 15.0
    yellow_from: float = 30.0
    red_from: float = 60.0
    # Minimum random-selection rates per lane (probability a declaration is sent to that lane).
    random_rate_red: float = Field(default=0.02, ge=0, le=1)
    random_rate_yellow: float = Field(default=0.05, ge=0, le=1)
    random_rate_blue: float = Field(default=0.01, ge=0, le=1)
    # Lanes whose transits are monitored by an e-seal (the demo monitors every lane).
    monitored_channels: frozenset[str] = frozenset({"yellow", "red"})

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> CustomsSettings:
        if not self.blue_from <= self.yellow_from <= self.red_from:
            raise ValueError("risk thresholds must satisfy blue_from <= yellow_from <= red_from")
        unknown = set(self.monitored_channels) - {"green", "blue", "yellow", "red"}
        if unknown:
            raise ValueError(f"unknown channels in monitored_channels: {sorted(unknown)}")
        return self


@lru_cache(maxsize=1)
def get_customs_settings() -> CustomsSettings:
    return CustomsSettings()
