"""All server configuration, in one typed place.

Values come from ``BOXOFFICE_*`` environment variables; CLI flags override them
(see ``server.cli``). Nothing here reads the environment at import time.
"""

from __future__ import annotations

import dataclasses
import ipaddress
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
    # Optional: where reports read (shift reports, the audit log, sales dashboards): a
    # standby, or several hosts with target_session_attrs=prefer-standby. Never used for
    # anything that decides about seats; they may lag by the replication delay.
    read_database_url: str | None = None
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
    # A refresh session ends this long after its login however often it is refreshed.
    session_max_age: int = 30 * 24 * 3600
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
    # The orders of one event that arrive while one of its statements runs go together as
    # the next, at most this many (server/combining.py); 1: each alone.
    combine_orders: int = 32
    max_body_bytes: int = 64 * 1024
    # Failed logins within login_window seconds that lock for login_lockout seconds: for a
    # username from one client address (so a stranger cannot lock an account's owner out);
    # from one address across usernames; and for a username from every address together
    # (guessing spread over many addresses: the owner is locked out too, so it is high).
    login_max_failures: int = 5
    login_max_failures_per_address: int = 30
    login_max_failures_per_username: int = 100
    login_window: int = 15 * 60
    login_lockout: int = 5 * 60
    # Registrations (a taken name included: it tells that the name exists) per client
    # address within register_window seconds.
    register_max_per_address: int = 10
    register_window: int = 3600
    # Proxies (addresses or networks, "10.0.0.0/8") whose X-Forwarded-For is believed for
    # the client's address; none by default, and then it is the connection's peer.
    trusted_proxies: tuple[str, ...] = ()
    # Password checks and hashes waiting for a bcrypt thread, beyond those running, before
    # logins and registrations get a 503; None: four per thread.
    bcrypt_queue: int | None = None
    log_level: str = "INFO"
    # "text" or "json" (one JSON object a line, with the request id; see server/logs.py).
    log_format: str = "text"
    # The access log: "errors" (answers of 400 and more, and requests slower than a
    # second), "full" (every request) or "off" (see server/logs.py).
    access_log: str = "errors"
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
    # Keep the browse paths' answers in memory, fresh by LISTEN/NOTIFY (false: every
    # browse reads the database).
    browse_cache: bool = True
    # Webhooks (docs/webhooks.md): send the outbox from this instance; how long an attempt
    # may take; the first retry's delay, doubling up to webhook_backoff_max (with jitter);
    # how long a delivery is retried before it failed for good; how long an endpoint may
    # fail before a delivery failing for good disables it; how often the outbox is looked
    # at without a notification (retries falling due); how many deliveries are in flight;
    # how long deliveries wait while this instance is placing orders (a rush's sales go
    # first, the deliveries right after it; 0: sent at once); how many days delivered and
    # failed deliveries are kept for the admins' list (0: for ever).
    webhooks: bool = True
    webhook_timeout: float = 10.0
    webhook_backoff: float = 10.0
    webhook_backoff_max: float = 3600.0
    webhook_retry_seconds: float = 24 * 3600.0
    webhook_disable_seconds: float = 24 * 3600.0
    webhook_poll_seconds: float = 1.0
    webhook_batch: int = 50
    webhook_defer_seconds: float = 1.0
    webhook_keep_days: float = 30.0

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
        if not 1 <= self.combine_orders <= 256:
            raise ConfigError("BOXOFFICE_COMBINE_ORDERS must be between 1 and 256")
        if self.pool_min_size < 0 or self.pool_max_size < max(1, self.pool_min_size):
            raise ConfigError("BOXOFFICE_POOL_MAX_SIZE must be at least 1 and >= POOL_MIN_SIZE")
        if self.idempotency_key_ttl < 1:
            raise ConfigError("BOXOFFICE_IDEMPOTENCY_KEY_TTL must be at least 1 (seconds)")
        if not 0 <= self.api_token_cache_seconds <= 60:
            raise ConfigError("BOXOFFICE_API_TOKEN_CACHE_SECONDS must be between 0 and 60")
        if self.session_max_age < 60:
            raise ConfigError("BOXOFFICE_SESSION_MAX_AGE must be at least 60 (seconds)")
        if self.log_format not in ("text", "json"):
            raise ConfigError("BOXOFFICE_LOG_FORMAT must be 'text' or 'json'")
        if self.access_log not in ("errors", "full", "off"):
            raise ConfigError("BOXOFFICE_ACCESS_LOG must be 'errors', 'full' or 'off'")
        if self.read_database_url is not None and self.database_url is None:
            raise ConfigError(
                "BOXOFFICE_READ_DATABASE_URL needs BOXOFFICE_DATABASE_URL (the primary) too"
            )
        if self.jwt_secret is not None and len(self.jwt_secret) < 32:
            raise ConfigError("BOXOFFICE_JWT_SECRET must be at least 32 characters")
        for origin in self.cors_origins:
            if not _is_origin(origin):
                raise ConfigError(
                    "BOXOFFICE_CORS_ORIGINS takes exact origins like https://app.example.com "
                    f"(scheme, host and port; no path, no '*'), not {origin!r}"
                )
        if not 0.1 <= self.webhook_timeout <= 60:
            raise ConfigError("BOXOFFICE_WEBHOOK_TIMEOUT must be between 0.1 and 60 (seconds)")
        if not 0 < self.webhook_backoff <= self.webhook_backoff_max:
            raise ConfigError(
                "BOXOFFICE_WEBHOOK_BACKOFF must be above 0 and at most WEBHOOK_BACKOFF_MAX"
            )
        if not 1 <= self.webhook_batch <= 1000:
            raise ConfigError("BOXOFFICE_WEBHOOK_BATCH must be between 1 and 1000")
        if min(self.webhook_retry_seconds, self.webhook_disable_seconds) < 0:
            raise ConfigError("BOXOFFICE_WEBHOOK_*_SECONDS must not be negative")
        if self.webhook_poll_seconds <= 0:
            raise ConfigError("BOXOFFICE_WEBHOOK_POLL_SECONDS must be above 0")
        if not 0 <= self.webhook_defer_seconds <= 60:
            raise ConfigError("BOXOFFICE_WEBHOOK_DEFER_SECONDS must be between 0 and 60")
        if not 0 <= self.webhook_keep_days <= 36500:
            raise ConfigError("BOXOFFICE_WEBHOOK_KEEP_DAYS must be between 0 (for ever) and 36500")
        if not 1 <= self.workers <= 256:
            raise ConfigError("BOXOFFICE_WORKERS must be between 1 and 256")
        self._validate_throttles()

    def _validate_throttles(self) -> None:
        for name in (
            "login_max_failures",
            "login_max_failures_per_address",
            "login_max_failures_per_username",
            "login_window",
            "login_lockout",
            "register_max_per_address",
            "register_window",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be at least 1")
        if self.login_max_failures_per_username < self.login_max_failures:
            raise ConfigError(
                "BOXOFFICE_LOGIN_MAX_FAILURES_PER_USERNAME must be at least "
                "BOXOFFICE_LOGIN_MAX_FAILURES (it counts every address's failures)"
            )
        if self.bcrypt_queue is not None and self.bcrypt_queue < 0:
            raise ConfigError("BOXOFFICE_BCRYPT_QUEUE must be at least 0")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigError(
                    "BOXOFFICE_TRUSTED_PROXIES takes addresses or networks like 10.0.0.5 or "
                    f"172.16.0.0/12, not {proxy!r}"
                ) from None

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
