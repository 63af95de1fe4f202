-- Accounts an admin controls: disabling an account, and ending all of its sessions.

-- A disabled account cannot log in or refresh, and its access tokens are refused.
-- session_epoch is bumped whenever the account's sessions are ended (disabling ends them
-- too): an access token carries the epoch it was issued in, and one from an earlier epoch
-- is refused, so ending the sessions stops the access tokens already handed out as well.
ALTER TABLE users
    ADD COLUMN disabled_at   TIMESTAMPTZ,
    ADD COLUMN session_epoch BIGINT NOT NULL DEFAULT 0;

-- The periodic purge finds sessions that ended (expired or revoked) long enough ago.
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
