"""The one configuration object, read from environment variables (12-factor)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal, NamedTuple
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting has a working default; set the environment variable to change it."""

    model_config = SettingsConfigDict(env_prefix="SEALWATCH_", extra="ignore", populate_by_name=True)

    # Servers. Unset means "start private ones" (sealwatch demo) under data_dir.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    mqtt_url: str | None = Field(default=None, validation_alias="MQTT_URL")
    # The alerting service's broker login (dispatches out, group positions in); unset means MQTT_URL.
    # Under the secured broker this is the service account: ingest's account may only read seals/#.
    alerts_mqtt_url: str | None = None
    data_dir: Path = Path(".sealwatch")

    # Storage. "auto" takes TimescaleDB when the server has it preloaded, else native partitions;
    # SEALWATCH_TIMESCALE=on|off is the older spelling of timescale|native.
    storage: Literal["auto", "timescale", "native"] = Field(
        default="auto", validation_alias=AliasChoices("SEALWATCH_STORAGE", "SEALWATCH_TIMESCALE")
    )
    retention_days: int = Field(default=90, ge=1)
    partitions_ahead_days: int = Field(default=3, ge=1)
    compress_after_days: int = Field(default=7, ge=1)

    # Ingest.
    mqtt_client_id: str = "sealwatch-ingest"
    mqtt_shared_group: str | None = None
    # Everything under seals/ so a message on a malformed topic is dead-lettered, not silently unseen.
    telemetry_topic: str = "seals/#"
    batch_max_fixes: int = Field(default=5000, ge=1)
    batch_max_wait_ms: int = Field(default=200, ge=1)
    ingest_queue_max: int = Field(default=100_000, ge=1)
    max_clock_skew_s: float = Field(default=300.0, ge=0)

    # Partitioned ingest (ingest/partitioned.py): with a NATS URL, ingest workers share the seals'
    # partitions of the broker's MQTT stream instead of subscribing to MQTT themselves.
    nats_url: str | None = None
    # Must equal N in the broker's mapping "seals.*.telemetry" -> partition(N, 1) (config/nats-server.conf).
    partitions: int = Field(default=16, ge=1, le=1024)
    # A worker's partition lease expires this long after its last renewal (it renews every second).
    lease_s: float = Field(default=5.0, ge=2.0)

    # Device authentication (docs/wire-format.md, "Signatures").
    # Reject unsigned messages. False is a migration mode: a seal without any key may still send
    # unsigned; a seal that has a key must sign, and every signature present is checked.
    require_signatures: bool = True
    # How long the previous key of a seal keeps verifying after a rotation.
    key_rotation_grace_s: float = Field(default=86_400.0, ge=0)
    # The ingest key cache reloads on NOTIFY sealwatch_keys; this is the safety-net reload period.
    key_cache_ttl_s: float = Field(default=300.0, gt=0)
    # Fernet key (urlsafe base64, 32 bytes) encrypting seal secrets at rest; unset stores them raw.
    key_encryption_key: SecretStr | None = None
    # A fix whose seq is this far or more below the seal's highest stored seq is a replay.
    replay_window_seq: int = Field(default=100_000, ge=1)
    # The dead-letter store's bounds (store/dead_letters.py): rows older than this are dropped, each
    # source (seals/<seal id>) keeps its newest rows, all rows keep at most this much payload, and a
    # payload above the cap is kept truncated (its size and sha256 with it).
    dead_letter_retention_days: int = Field(default=14, ge=1)
    dead_letter_max_per_source: int = Field(default=1000, ge=1)
    dead_letter_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    dead_letter_payload_max_bytes: int = Field(default=16 * 1024, ge=64)

    # API / map.
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    tile_url: str | None = None
    tile_attribution: str = "&copy; OpenStreetMap contributors"
    # Pages show every time in this one IANA time zone, with its label.
    display_tz: str = "Asia/Baku"
    no_signal_after_s: float = Field(default=600.0, gt=0)
    stopped_below_kmh: float = Field(default=3.0, ge=0)
    low_battery_pct: float = Field(default=20.0, ge=0, le=100)

    # Users and sessions (api/auth.py). A session token lives this long after login.
    session_ttl_s: int = Field(default=12 * 3600, ge=60, le=30 * 86_400)
    # A live stream (SSE) looks at its session this often and closes when it was ended (logout).
    stream_session_check_s: float = Field(default=5.0, gt=0)
    # Mark the session cookie Secure (HTTPS only); on for any deployment behind TLS.
    cookie_secure: bool = False
    # Bearer token Prometheus may scrape /metrics with (besides operator and admin sessions).
    metrics_token: SecretStr | None = None
    # sealwatch demo: the demo operator's password; unset means a random one, printed at start.
    demo_password: SecretStr | None = None
    # Reverse proxies in front of the API (comma-separated addresses or CIDRs). Only from these is
    # X-Forwarded-For believed: the client is its right-most address that is not a trusted proxy.
    # Empty: the client is the socket peer and X-Forwarded-For is ignored.
    trusted_proxies: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                try:
                    ip_network(part.strip(), strict=False)
                except ValueError as exc:
                    raise ValueError(f"not an address or CIDR: {part.strip()!r}") from exc
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        return tuple(ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip())

    @field_validator("display_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Baku)") from exc
        return value

    # Logging.
    log_level: str = "INFO"
    log_json: bool = False

    @field_validator("storage", mode="before")
    @classmethod
    def _storage_aliases(cls, value: object) -> object:
        return {"on": "timescale", "off": "native"}.get(value, value) if isinstance(value, str) else value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def mqtt_host_port(url: str) -> tuple[str, int]:
    """Split ``mqtt://host:port`` into its parts (port 1883 when absent)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp", ""):
        raise ValueError(f"unsupported MQTT URL scheme {parts.scheme!r} (use mqtt://host:port)")
    return parts.hostname or "127.0.0.1", parts.port or 1883


class MqttEndpoint(NamedTuple):
    host: str
    port: int
    username: str | None
    password: str | None


def mqtt_endpoint(url: str) -> MqttEndpoint:
    """Host, port and login of ``mqtt://[user:pass@]host[:port]``: every client connects with the
    URL's credentials, or the secured broker refuses it."""
    return MqttEndpoint(*mqtt_host_port(url), *mqtt_credentials(url))


def mqtt_credentials(url: str) -> tuple[str | None, str | None]:
    """The username and password of ``mqtt://user:pass@host:port`` (None when absent)."""
    parts = urlsplit(url)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return username, password
