-- Users, refresh sessions, login throttling, events and bookings.
-- The database enforces the invariants itself, so no code path can bypass them.

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'clerk', 'admin')),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT users_username_format CHECK (username ~ '^[A-Za-z0-9._-]{3,64}$')
);
-- Usernames are unique without regard to case: "Alice" and "alice" are one account.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- One row per login; the refresh token is "<id>.<secret>" and only the secret's hash is kept.
-- Rotation replaces token_hash; presenting an old secret revokes the session.
CREATE TABLE sessions (
    id           UUID PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Failed logins per (lower-cased) username, shared by every server instance.
CREATE TABLE login_failures (
    username        TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    first_failed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until    TIMESTAMPTZ
);

CREATE TABLE events (
    id              BIGSERIAL PRIMARY KEY,
    title           VARCHAR(255) NOT NULL CHECK (length(btrim(title)) > 0),
    description     VARCHAR(1000),
    date            TIMESTAMPTZ NOT NULL,
    venue           VARCHAR(255),
    total_seats     INTEGER NOT NULL,
    available_seats INTEGER NOT NULL,
    price           NUMERIC(10, 2) NOT NULL CHECK (price >= 0),
    -- Bumped by every statement that changes the row, so clients can order updates.
    version         BIGINT NOT NULL DEFAULT 1,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT events_seats_check CHECK (0 <= available_seats AND available_seats <= total_seats)
);
CREATE INDEX events_date_idx ON events (date);

CREATE TABLE bookings (
    id            BIGSERIAL PRIMARY KEY,
    event_id      BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id       BIGINT NOT NULL REFERENCES users (id),
    quantity      INTEGER NOT NULL CHECK (quantity > 0),
    status        TEXT NOT NULL DEFAULT 'confirmed'
                  CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired')),
    customer_name VARCHAR(255),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX bookings_event_id_idx ON bookings (event_id);
CREATE INDEX bookings_user_id_idx ON bookings (user_id);
