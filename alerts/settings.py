"""Alert thresholds and behaviour, read from ``SEALWATCH_ALERTS_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.model import AlertType, Severity

_MOOT_AT_ARRIVAL: tuple[AlertType, ...] = ("overdue", "signal_lost", "route_deviation", "unauthorized_stop", "gps_jump")


class AlertSettings(BaseSettings):
    """Every field has a working default; ``SEALWATCH_ALERTS_<FIELD>`` overrides it."""

    model_config = SettingsConfigDict(env_prefix="SEALWATCH_ALERTS_", extra="ignore")

    # route_deviation: raised on corridor_exit. Auto-resolve on corridor_reentry, or leave it for
    # the operator (then the reentry is only noted in the history).
    route_deviation_severity: Severity = "warning"
    route_deviation_auto_resolve: bool = True
    # A new exit this soon (fix time) after an auto-resolved one reopens that alert instead of
    # raising another: a truck weaving along the corridor edge makes one alert, not a storm.
    route_deviation_reopen_within_s: float = Field(default=900.0, ge=0)

    # unauthorized_stop (see alerts.rules.unauthorized_stop): the engine's stop_start needs its own
    # minimum (5 min). Outside the stop areas a stop is tolerated for the route's stop_tolerance_s,
    # else unauthorized_stop_min_s (from its first slow fix); beyond that it is a warning, and
    # critical once it outlasts its allowance by unauthorized_stop_critical_after_s. With the seal
    # opened or tampered it is critical at once.
    unauthorized_stop_severity: Severity = "warning"
    unauthorized_stop_min_s: float = Field(default=900.0, ge=0)
    unauthorized_stop_critical_after_s: float = Field(default=3600.0, gt=0)
    unauthorized_stop_auto_resolve: bool = False
    # AETR: after 4.5 h of driving a 45-minute break is due; such a break is never an alarm.
    stop_aetr_driving_s: float = Field(default=4.5 * 3600, gt=0)
    stop_aetr_break_s: float = Field(default=45 * 60, gt=0)
    # Drivers plan the break: one taken up to this long before the 4.5 h are up is the AETR break too.
    stop_aetr_early_s: float = Field(default=1800.0, ge=0)
    # A gap between fixes longer than this counts as neither driving nor rest (the seal was silent)...
    stop_aetr_max_gap_s: float = Field(default=900.0, gt=0)
    # ... unless the distance covered in it needs this average speed: then it was driving.
    stop_aetr_silent_driving_kmh: float = Field(default=30.0, gt=0)
    # Congestion: this many seals (the stopped one included) slower than stop_jam_speed_kmh within
    # stop_jam_radius_m, each with a fix within stop_jam_window_s, is a jam; it holds the stop alert
    # back while it lasts, for at most stop_jam_hold_max_s of jam time.
    stop_jam_min_seals: int = Field(default=3, ge=2)
    stop_jam_radius_m: float = Field(default=1500.0, gt=0)
    stop_jam_window_s: float = Field(default=600.0, gt=0)
    stop_jam_speed_kmh: float = Field(default=10.0, gt=0)
    stop_jam_hold_max_s: float = Field(default=4 * 3600, ge=0)
    # A seal whose latest fix stood in the jam and that has been silent since (no coverage there)
    # still stands in it, for this long.
    stop_jam_silent_s: float = Field(default=3600.0, ge=0)

    # seal_opened / seal_tampered: critical; an opening inside the destination office after arrival
    # is the normal end of a transit: no alert ("ignore") or an informational one ("info").
    seal_severity: Severity = "critical"
    opened_at_destination: Literal["ignore", "info"] = "ignore"

    restricted_zone_severity: Severity = "critical"
    restricted_zone_auto_resolve: bool = False

    # low_battery with hysteresis: warning below warn_below, cleared only above warn_clear_above;
    # critical below critical_below, back to warning only above critical_clear_above.
    battery_warn_below: float = Field(default=20.0, ge=0, le=100)
    battery_warn_clear_above: float = Field(default=25.0, ge=0, le=100)
    battery_critical_below: float = Field(default=10.0, ge=0, le=100)
    battery_critical_clear_above: float = Field(default=15.0, ge=0, le=100)
    low_battery_auto_resolve: bool = True

    # signal_lost: no fix for longer than this (tick); a fresh fix resolves it.
    signal_lost_after_s: float = Field(default=600.0, gt=0)
    signal_lost_severity: Severity = "warning"
    signal_lost_auto_resolve: bool = True

    # overdue: the deadline passed (plus grace) before arrival.
    overdue_severity: Severity = "warning"
    overdue_grace_s: float = Field(default=0.0, ge=0)

    # After the service (re)starts, the timers (signal lost, overdue, escalation) first wait this
    # long: the broker is still delivering what it kept for ingest meanwhile, and judging silence
    # before that would raise signal_lost for every transit, to clear it a second later.
    timers_start_after_s: float = Field(default=60.0, ge=0)

    gps_jump_severity: Severity = "warning"

    # arrival: an informational alert (resolved at once unless arrival_keep_open), it closes the
    # alerts it makes moot and marks the transit arrived in customs.
    arrival_keep_open: bool = False
    arrival_resolves: list[AlertType] = Field(default_factory=lambda: list(_MOOT_AT_ARRIVAL))

    # Escalation of critical alerts nobody acknowledged.
    escalate_after_s: float = Field(default=300.0, gt=0)

    # Mobile groups.
    auto_dispatch_critical: bool = False
    group_stale_after_s: float = Field(default=1800.0, gt=0)
    group_topic_prefix: str = "alerts/groups"

    # Outbox: where run_outbox publishes when the glue passes no publish callable.
    mqtt_url: str | None = None
    outbox_poll_s: float = Field(default=2.0, gt=0)
    outbox_batch: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _hysteresis_is_ordered(self) -> Self:
        if not (
            self.battery_critical_below <= self.battery_critical_clear_above <= self.battery_warn_clear_above
            and self.battery_critical_below <= self.battery_warn_below <= self.battery_warn_clear_above
        ):
            raise ValueError(
                "battery thresholds must satisfy critical_below <= critical_clear/warn_below <= warn_clear"
            )
        return self


@lru_cache(maxsize=1)
def get_alert_settings() -> AlertSettings:
    return AlertSettings()
