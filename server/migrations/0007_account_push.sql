-- Accounts' changes pushed to every server instance (see server/accounts.py): each instance
-- keeps in memory the accounts whose access tokens a change may have made wrong, and hears
-- every change, so checking an access token needs no round trip.

-- state_version goes up by one with every change to what decides whether an access token
-- of the account still works (role, disabled or not, session epoch), so an instance keeps
-- the latest of what it hears in any order; state_changed_at is when, so an instance that
-- (re)loads them knows which changes are recent enough to matter.
ALTER TABLE users
    ADD COLUMN state_version    BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN state_changed_at TIMESTAMPTZ;

-- What an instance loads: the disabled accounts and the recently changed ones.
CREATE INDEX users_disabled_idx ON users (id) WHERE disabled_at IS NOT NULL;
CREATE INDEX users_state_changed_at_idx ON users (state_changed_at)
    WHERE state_changed_at IS NOT NULL;

-- Set by the database whatever statement makes the change, so no code path can change an
-- account without every instance hearing of it. clock_timestamp(), not now(): the change is
-- made under the row lock, after any earlier change to the account committed.
CREATE FUNCTION boxoffice_account_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.state_version := OLD.state_version + 1;
    NEW.state_changed_at := clock_timestamp();
    RETURN NEW;
END
$$;

CREATE TRIGGER users_state_changed
    BEFORE UPDATE OF role, disabled_at, session_epoch ON users
    FOR EACH ROW
    WHEN ((OLD.role, OLD.disabled_at IS NULL, OLD.session_epoch)
          IS DISTINCT FROM (NEW.role, NEW.disabled_at IS NULL, NEW.session_epoch))
    EXECUTE FUNCTION boxoffice_account_changed();

-- Delivered only if and when the change commits; the payload is the account's new state, so
-- a listener never needs to read it back.
CREATE FUNCTION boxoffice_notify_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('boxoffice_accounts', json_build_object(
        'id', NEW.id,
        'role', NEW.role,
        'disabled', NEW.disabled_at IS NOT NULL,
        'epoch', NEW.session_epoch,
        'version', NEW.state_version
    )::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_notify_state
    AFTER UPDATE ON users
    FOR EACH ROW
    WHEN (OLD.state_version IS DISTINCT FROM NEW.state_version)
    EXECUTE FUNCTION boxoffice_notify_account();
