"""SQLAlchemy Core table definitions, used to build queries.

The schema itself is created by the versioned SQL files in ``migrations/``;
these definitions must match them (``tests/test_schema.py`` checks that).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

metadata = MetaData()

TIMESTAMPTZ = TIMESTAMP(timezone=True)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("username", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False, server_default="user"),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("disabled_at", TIMESTAMPTZ),
    Column("session_epoch", BigInteger, nullable=False, server_default="0"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("token_hash", Text, nullable=False),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("last_used_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("expires_at", TIMESTAMPTZ, nullable=False),
    Column("revoked_at", TIMESTAMPTZ),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("username", Text, primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("first_failed_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("locked_until", TIMESTAMPTZ),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("title", String(255), nullable=False),
    Column("description", String(1000)),
    Column("date", TIMESTAMPTZ, nullable=False),
    Column("venue", String(255)),
    Column("total_seats", Integer, nullable=False),
    Column("available_seats", Integer, nullable=False),
    Column("price", Numeric(10, 2), nullable=False),
    Column("version", BigInteger, nullable=False, server_default="1"),
    Column("checked_in", Integer, nullable=False, server_default="0"),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
)

bookings = Table(
    "bookings",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("event_id", BigInteger, ForeignKey("events.id"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default="confirmed"),
    Column("customer_name", String(255)),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("updated_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("expires_at", TIMESTAMPTZ),
    Column("ticket_code", Text, unique=True),
    Column("payment_method", Text),
    Column("amount", Numeric(12, 2), nullable=False, server_default="0"),
    Column("confirmed_at", TIMESTAMPTZ),
    Column("confirmed_by", BigInteger, ForeignKey("users.id")),
    Column("cancelled_at", TIMESTAMPTZ),
    Column("cancelled_by", BigInteger, ForeignKey("users.id")),
    Column("checked_in_at", TIMESTAMPTZ),
    Column("checked_in_by", BigInteger, ForeignKey("users.id")),
    Column("checked_in_gate", String(64)),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("actor_id", BigInteger),
    Column("actor", Text, nullable=False),
    Column("source", Text, nullable=False, server_default=""),
    Column("action", Text, nullable=False),
    Column("event_id", BigInteger),
    Column("booking_id", BigInteger),
    Column("user_id", BigInteger),
    Column("details", JSONB, nullable=False, server_default="{}"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("owner", Text, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", Text, nullable=False),
    Column("status", Integer),
    Column("response", Text),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigInteger, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", Text, nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("created_by", BigInteger, ForeignKey("users.id")),
    Column("created_at", TIMESTAMPTZ, nullable=False, server_default=func.now()),
    Column("last_used_at", TIMESTAMPTZ),
    Column("revoked_at", TIMESTAMPTZ),
)
