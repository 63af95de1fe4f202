-- Login and registration throttling by client address, and usernames compared in one form.

-- The form usernames are looked up, counted and locked in (server/auth.py username_key:
-- NFKC, then casefold). Usernames are ASCII letters, digits, '.', '_' and '-' (the format
-- check), for which that form is their lower case in the C collation (not the database's
-- locale: Turkish lower('I') is not 'i'). Generated, so no way of creating an account can
-- store another; if usernames ever admit other characters, this must change with them.
ALTER TABLE users
    ADD COLUMN username_key TEXT NOT NULL GENERATED ALWAYS AS (lower(username COLLATE "C")) STORED;
CREATE UNIQUE INDEX users_username_key_unique ON users (username_key);
-- It replaces the unique index on lower(username), which followed the database's locale.
DROP INDEX users_username_key;

-- Counts of failed logins and of registrations, shared by every server instance:
--   login          per username from one client address (a stranger cannot lock you out)
--   login_username per username from every address (distributed guessing)
--   login_address  per client address across usernames
--   register       registrations (and taken names) per client address
-- A count restarts when its window has passed; locked_until is when a lock on it ends.
-- The part a count is not keyed by is ''. Addresses are IPv4 or an IPv6 /64.
CREATE TABLE throttles (
    kind         TEXT NOT NULL
                 CHECK (kind IN ('login', 'login_username', 'login_address', 'register')),
    username     TEXT NOT NULL,
    address      TEXT NOT NULL,
    hits         INTEGER NOT NULL,
    first_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    locked_until TIMESTAMPTZ,
    PRIMARY KEY (kind, username, address)
);

-- Counted per username alone, which anyone could use to lock anyone out. Its counts are
-- short-lived (minutes), so they are not carried over.
DROP TABLE login_failures;
