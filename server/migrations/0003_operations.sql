-- Box-office operations: holds that expire, payments, tickets and check-in, the audit log,
-- idempotency keys and integration tokens.

-- A hold is a booking in 'pending' with an expiry; its seats are taken like any booking's
-- and return when it expires. Confirmed bookings carry an unguessable ticket code.
ALTER TABLE bookings
    ADD COLUMN expires_at      TIMESTAMPTZ,
    ADD COLUMN ticket_code     TEXT UNIQUE,
    ADD COLUMN payment_method  TEXT CHECK (payment_method IN ('cash', 'card', 'other')),
    ADD COLUMN amount          NUMERIC(12, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0),
    ADD COLUMN confirmed_at    TIMESTAMPTZ,
    ADD COLUMN cancelled_at    TIMESTAMPTZ,
    ADD COLUMN cancelled_by    BIGINT REFERENCES users (id),
    ADD COLUMN checked_in_at   TIMESTAMPTZ,
    ADD COLUMN checked_in_by   BIGINT REFERENCES users (id),
    ADD COLUMN checked_in_gate VARCHAR(64),
    ADD CONSTRAINT bookings_hold_expires CHECK (status <> 'pending' OR expires_at IS NOT NULL),
    ADD CONSTRAINT bookings_ticket_when_confirmed
        CHECK (status <> 'confirmed' OR ticket_code IS NOT NULL);

-- Bookings made before this migration: their amount at today's price, a ticket each.
UPDATE bookings b SET amount = b.quantity * e.price FROM events e WHERE e.id = b.event_id;
UPDATE bookings SET ticket_code = replace(gen_random_uuid()::text, '-', ''),
                    confirmed_at = created_at
 WHERE status = 'confirmed';

-- The expiry sweep reads only live holds, oldest first.
CREATE INDEX bookings_hold_expiry_idx ON bookings (expires_at) WHERE status = 'pending';
CREATE INDEX bookings_user_created_idx ON bookings (user_id, created_at);

-- Admitted tickets per event, bumped by the check-in statement (so it is live too).
ALTER TABLE events ADD COLUMN checked_in INTEGER NOT NULL DEFAULT 0 CHECK (checked_in >= 0);

-- Every state change: who, when, from where, what. Written by the statement that makes the
-- change, so there is no change without its record. No foreign keys: records outlive rows.
CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_id   BIGINT,             -- null: the system (hold expiry)
    actor      TEXT NOT NULL,      -- username, token name or 'system'
    source     TEXT NOT NULL DEFAULT '',  -- the client's address
    action     TEXT NOT NULL,      -- booking.create, booking.cancel, event.update, ...
    event_id   BIGINT,
    booking_id BIGINT,
    user_id    BIGINT,             -- the account acted upon (user and token changes)
    details    JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_event_idx ON audit_log (event_id, id);
CREATE INDEX audit_log_booking_idx ON audit_log (booking_id, id);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);

-- Idempotency-Key: the first response to a (caller, key) is kept for 24 hours and given
-- again to every retry with the same request; a different request with the key is refused.
CREATE TABLE idempotency_keys (
    owner        TEXT NOT NULL,      -- who asked: 'user:<id>' or 'token:<id>'
    key          VARCHAR(255) NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,            -- null while the first request is being answered
    response     TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Long-lived tokens for integrations, issued by admins: only a hash is kept.
CREATE TABLE api_tokens (
    id           BIGSERIAL PRIMARY KEY,
    name         VARCHAR(100) NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('user', 'clerk', 'admin')),
    user_id      BIGINT NOT NULL REFERENCES users (id),  -- whose bookings it makes
    token_hash   TEXT NOT NULL UNIQUE,
    created_by   BIGINT REFERENCES users (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

-- Live updates carry the check-in count too.
CREATE OR REPLACE FUNCTION boxoffice_notify_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    kind TEXT;
    row events;
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('boxoffice_events', json_build_object(
            'type', 'deleted', 'id', OLD.id, 'version', OLD.version + 1)::text);
        RETURN OLD;
    END IF;
    row := NEW;
    IF TG_OP = 'INSERT' THEN
        kind := 'created';
    ELSIF (NEW.title, NEW.description, NEW.date, NEW.venue, NEW.price)
          IS NOT DISTINCT FROM (OLD.title, OLD.description, OLD.date, OLD.venue, OLD.price) THEN
        kind := 'seats';
    ELSE
        kind := 'updated';
    END IF;
    PERFORM pg_notify('boxoffice_events', json_build_object(
        'type', kind,
        'id', row.id,
        'version', row.version,
        'event', json_build_object(
            'id', row.id, 'title', row.title, 'description', row.description,
            'date', row.date, 'venue', row.venue, 'total_seats', row.total_seats,
            'available_seats', row.available_seats, 'price', row.price::text,
            'checked_in', row.checked_in,
            'version', row.version, 'created_at', row.created_at, 'updated_at', row.updated_at
        ))::text);
    RETURN NEW;
END
$$;
