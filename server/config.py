"""All server configuration, in one typed place.

Values come from ``BOXOFFICE_*`` environment variables; CLI flags override them
(see ``server.cli``). Nothing here reads the environment at import time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "BOXOFFICE_"


class ConfigError(Exception):
    """The configuration cannot work; the message says what to change."""


@dataclass(frozen=True, slots=True)
class Config:
    # Without a database URL, `serve` and `demo` start an embedded PostgreSQL in data_dir.
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    # `serve` runs this many server processes on the one port (SO_REUSEPORT); each has
    # its own pool of up to pool_max_size connections, plus one LISTEN connection.
    workers: int = 1
    # Required with a real database; generated and kept in data_dir with the embedded one.
    jwt_secret: str | None = None
    bcrypt_rounds: int = 12
    data_dir: Path = field(default_factory=lambda: Path(".boxoffice"))
    access_token_ttl: int = 15 * 60
    refresh_token_ttl: int = 14 * 24 * 3600
    max_tickets_per_booking: int = 10
    # A hold keeps its seats this long unless confirmed; the sweep releases lapsed holds.
    hold_seconds: int = 10 * 60
    hold_sweep_seconds: float = 1.0
    # Who may sell: on a priced event a user's booking is a reservation ("reserve": a hold,
    # paid at the counter or through a partner, confirmed by staff) unless users pay
    # elsewhere ("confirm"). A user holds at most max_held_seats seats at a time.
    user_bookings: str = "reserve"
    max_held_seats: int = 10
    pool_min_size: int = 2
    pool_max_size: int = 8
    max_body_bytes: int = 64 * 1024
    # Failed logins for one username within login_window seconds before it is locked.
    login_max_failures: int = 5
    login_window: int = 15 * 60
    login_lockout: int = 5 * 60
    log_level: str = "INFO"
    # "text" or "json" (one JSON object a line, with the request id; see server/logs.py).
    log_format: str = "text"
    # Serve Prometheus metrics at /metrics (unauthenticated: keep it off the public
    # network, or turn it off).
    metrics: bool = True
    # Live updates: seconds between websocket pings; how long a client may take to read
    # before it is dropped; how often, at most, a storm of changes is fanned out; how
    # often a quiet LISTEN connection is checked.
    ws_heartbeat: float = 30.0
    ws_send_timeout: float = 10.0
    live_flush_interval: float = 0.02
    listen_ping_interval: float = 10.0
    # Integrations: how long the first answer to an Idempotency-Key is kept; how long a
    # checked API token is trusted before it is checked again (a revocation reaches the
    # other server instances within this many seconds; 0 checks on every request).
    idempotency_key_ttl: int = 24 * 3600
    api_token_cache_seconds: float = 5.0
    # Browsers on these exact origins ("https://shop.example.com") may call the API;
    # none by default, and then no response carries Access-Control-* headers.
    cors_origins: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Build from ``BOXOFFICE_<FIELD>`` variables, then apply non-None overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _parse(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if not 4 <= self.bcrypt_rounds <= 31:
            raise ConfigError("BOXOFFICE_BCRYPT_ROUNDS must be between 4 and 31")
        if not 1 <= self.max_tickets_per_booking <= 10_000:
            raise ConfigError("BOXOFFICE_MAX_TICKETS_PER_BOOKING must be between 1 and 10000")
        if self.user_bookings not in ("reserve", "confirm"):
            raise ConfigError("BOXOFFICE_USER_BOOKINGS must be 'reserve' or 'confirm'")
        if not 0 <= self.max_held_seats <= 1_000_000:
            raise ConfigError("BOXOFFICE_MAX_HELD_SEATS must be between 0 and 1000000")
        if self.pool_min_size < 0 or self.pool_max_size < max(1, self.pool_min_size):
            raise ConfigError("BOXOFFICE_POOL_MAX_SIZE must be at least 1 and >= POOL_MIN_SIZE")
        if self.idempotency_key_ttl < 1:
            raise ConfigError("BOXOFFICE_IDEMPOTENCY_KEY_TTL must be at least 1 (seconds)")
        if not 0 <= self.api_token_cache_seconds <= 60:
            raise ConfigError("BOXOFFICE_API_TOKEN_CACHE_SECONDS must be between 0 and 60")
        if self.log_format not in ("text", "json"):
            raise ConfigError("BOXOFFICE_LOG_FORMAT must be 'text' or 'json'")
        if self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ConfigError("BOXOFFICE_JWT_SECRET must be at least 32 characters")
        for origin in self.cors_origins:
            if not _is_origin(origin):
                raise ConfigError(
                    "BOXOFFICE_CORS_ORIGINS takes exact origins like https://app.example.com "
                    f"(scheme, host and port; no path, no '*'), not {origin!r}"
                )
        if not 1 <= self.workers <= 256:
            raise ConfigError("BOXOFFICE_WORKERS must be between 1 and 256")

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    @property
    def embedded(self) -> bool:
        return self.database_url is None


def _parse(name: str, type_: Any, raw: str) -> Any:
    kind = str(type_)
    if kind.startswith("bool"):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be true or false, not {raw!r}")
    if kind.startswith("tuple"):  # a comma-separated list
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("Path"):
            return Path(raw)
    except ValueError:
        raise ConfigError(
            f"{ENV_PREFIX}{name.upper()} must be a whole number, not {raw!r}"
        ) from None
    return raw


def _is_origin(origin: str) -> bool:
    scheme, sep, rest = origin.partition("://")
    return (
        scheme in ("http", "https")
        and bool(sep)
        and bool(rest)
        and not any(c in rest for c in "/?#*@ ")
        and origin == origin.lower()
    )
