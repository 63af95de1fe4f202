-- Venues and their seating plans (issue 10). A seat's id is stable for the life of the
-- venue: editing a plan keeps the ids of seats whose label stays, and retires (never
-- deletes) removed seats, so tickets of past and future events can still reference them.
CREATE TABLE venues (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    address     TEXT,
    description TEXT,
    version     BIGINT NOT NULL DEFAULT 1,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Price zones; rank is the order best-available prefers (1 first). A zone dropped from the
-- plan is retired while retired seats still name it.
CREATE TABLE venue_zones (
    venue_id   BIGINT NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    code       TEXT NOT NULL,
    name       TEXT NOT NULL,
    rank       INTEGER NOT NULL,
    retired_at TIMESTAMPTZ,
    PRIMARY KEY (venue_id, code)
);

CREATE TABLE seats (
    id              BIGSERIAL PRIMARY KEY,
    venue_id        BIGINT NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    section         TEXT NOT NULL,
    row_label       TEXT NOT NULL,
    number          TEXT NOT NULL,
    x               INTEGER NOT NULL,
    y               INTEGER NOT NULL,
    zone            TEXT NOT NULL,
    wheelchair      BOOLEAN NOT NULL DEFAULT false,
    companion       BOOLEAN NOT NULL DEFAULT false,
    restricted_view BOOLEAN NOT NULL DEFAULT false,
    retired_at      TIMESTAMPTZ,
    FOREIGN KEY (venue_id, zone) REFERENCES venue_zones (venue_id, code)
);

-- Among the plan's current seats a label and a grid position are each taken once.
CREATE UNIQUE INDEX seats_label_key ON seats (venue_id, section, row_label, number)
    WHERE retired_at IS NULL;
CREATE UNIQUE INDEX seats_position_key ON seats (venue_id, x, y) WHERE retired_at IS NULL;
-- A plan edit looks up every seat of the venue by label, retired ones included.
CREATE INDEX seats_venue_label_idx ON seats (venue_id, section, row_label, number);
