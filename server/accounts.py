"""Accounts as admins control them: list, disable and enable, change the role, end every
session; and the check that makes those changes bite on access tokens already handed out.

An access token (a JWT, ``security.AccessTokens``) says who (``sub``), with what ``role``,
in which session ``epoch``, issued when (``iat``); it is good until ``exp`` = ``iat`` +
``access_token_ttl`` (15 min) without the database. So that disabling an account, changing
its role or ending its sessions (which starts a new epoch) stops its tokens, every request
with one is checked against the account's state: not disabled, the role the token says, a
token of the current epoch (``AccountState.refusal``).

That check costs no round trip: every instance keeps in memory the state of the accounts
that a change may have made a live token wrong for, and hears every change as the database
makes it. Why an account that is not in the map has nothing to fear:

- Every token is signed from the role and epoch read by one statement (``CREATE_SESSION``
  under the account's row lock, ``ROTATE_SESSION``), just before it is signed.
- A token is wrong only if the account changed after that read, so the change commits
  after it. Each change bumps ``users.state_version`` and sets ``state_changed_at`` and is
  NOTIFYed on commit, by triggers (migrations/0007_account_push.sql), whatever statement
  made it. An instance learns of it no sooner than the commit, and keeps it until it
  learned of it + ``access_token_ttl`` + ``MARGIN_SECONDS``; by then the token, signed
  within ``MARGIN_SECONDS`` of the read (and issued by an instance whose clock is off by
  less than that), has expired. Disabled accounts are kept as long as they are disabled.
- The map is only trusted while the LISTEN connection (``listener.py``) is up and the map
  was loaded after it began listening (``reload``: the disabled accounts and the ones
  changed within the same window, merged by version with what was heard meanwhile). While
  it is not, every check reads the account from the database (one round trip), so nothing
  is let through on stale knowledge. A change reaches the other instances within the
  NOTIFY delay (milliseconds).

So the check looks the account up in the map: absent, the token is fine; present, its
state decides. A refusal is confirmed against the database, so someone re-enabled,
promoted or logged in again elsewhere is not turned away by a change not yet heard. The
instance that makes a change reads the account from the database on each of its requests
until it hears the change (read-your-writes: the change may still be inside an
Idempotency-Key transaction, so its state is not trusted before it commits).

Websocket connections (``handlers/live.py``) watch their account: each change heard, and
each reload, checks them again at once.

An integration API token is an account of its own, made with it (see ``api_tokens.py``):
disabling the admin who issued it leaves it working, and its own account is managed by
revoking the token (PATCH on it is a 409).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from common.models import ROLES, Role

from . import queries as q
from .db import Database, Row, answer
from .envelope import Conflict, NotFound, Unauthorized
from .security import Principal

# The channel the database NOTIFYs accounts' changes on (migrations/0007_account_push.sql).
CHANNEL = "boxoffice_accounts"
# How much longer than an access token lives a change is kept: covers the time between
# reading an account's state and signing a token with it, and clocks slightly apart.
MARGIN_SECONDS = 60.0
# Forget changes older than the window once the map holds this many (and twice as many as
# after the last time).
_PRUNE_AT = 4096
# Until then at most, an account this instance changed is read from the database while the
# change is not heard (a change rolled back is never heard).
_PENDING_SECONDS = MARGIN_SECONDS


@dataclass(frozen=True, slots=True)
class AccountState:
    """What decides whether an access token of the account still works; ``version`` goes
    up with each change (users.state_version)."""

    role: Role
    disabled: bool
    epoch: int
    version: int = 0

    def refusal(self, who: Principal) -> str | None:
        """Why ``who``'s access token no longer works, or None when it does."""
        if self.disabled:
            return "This account is disabled"
        if who.epoch < self.epoch:
            return "Access token revoked: the account's sessions were ended; log in again"
        if who.role != self.role:
            return "Access token outdated: the account's role changed; refresh it"
        return None


def _state(row: Row | q.AccountStateRow | q.SessionsEndedOutcome) -> AccountState:
    role = row["role"]
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return AccountState(role, bool(row["disabled"]), int(row["epoch"]), int(row["version"]))


class Accounts:
    def __init__(self, db: Database, token_ttl: float) -> None:
        self.db = db
        # How long a change to an account is kept after it is heard (see above).
        self.keep_seconds = token_ttl + MARGIN_SECONDS
        # user id -> (state, monotonic time it may be forgotten; inf while disabled)
        self._known: dict[int, tuple[AccountState, float]] = {}
        self._prune_at = _PRUNE_AT
        # True while the map holds every change that matters (see reload, trust and lost).
        self.synced = False
        # Changes heard while the map is being loaded, merged into what is loaded.
        self._heard: dict[int, AccountState] | None = None
        # Accounts this instance changed, until their change is heard: user id -> (the
        # version the change made, monotonic deadline).
        self._pending: dict[int, tuple[int, float]] = {}
        self._watchers: dict[int, set[Callable[[], None]]] = {}

    @property
    def watched(self) -> int:
        """How many accounts the map holds (a metric)."""
        return len(self._known)

    # --- the check of access tokens ------------------------------------------------------

    async def check(self, who: Principal) -> None:
        """401 unless the account of ``who``'s access token may still use it."""
        if self.synced and not self._is_pending(who.user_id):
            known = self._known.get(who.user_id)
            if known is None or known[0].refusal(who) is None:
                return
        state = await self._read(who.user_id)
        if state is None:
            raise Unauthorized("This account no longer exists")
        reason = state.refusal(who)
        if reason is not None:
            raise Unauthorized(reason)

    def refusal(self, who: Principal) -> str | None:
        """Why ``who``'s access token no longer works as far as this instance has heard
        (no I/O): for connections that watch their account and were told it changed."""
        known = self._known.get(who.user_id)
        return None if known is None else known[0].refusal(who)

    async def _read(self, user_id: int) -> AccountState | None:
        row = await self.db.fetchone(q.ACCOUNT_STATE, user_id=user_id)
        if row is None:
            return None
        state = _state(row)
        # Worth keeping only for an account already known, or just changed here.
        if user_id in self._known or user_id in self._pending:
            self._apply(user_id, state)
        return state

    def _is_pending(self, user_id: int) -> bool:
        pending = self._pending.get(user_id)
        if pending is None:
            return False
        if pending[1] < time.monotonic():
            del self._pending[user_id]
            return False
        return True

    # --- what every instance hears ---------------------------------------------------------

    def notified(self, payload: str) -> None:
        """A change heard from the database (the trigger's JSON)."""
        change = json.loads(payload)
        self._apply(int(change["id"]), _state(change))

    async def reload(self) -> None:
        """Load the accounts that matter, once the LISTEN connection has begun listening (so
        nothing that changes from then on is missed); ``trust`` the map after what was heard
        meanwhile is applied."""
        self.synced = False
        self._heard = {}
        try:
            rows = await self.db.fetchall(
                q.ACCOUNTS_TO_WATCH, window_seconds=math.ceil(self.keep_seconds)
            )
            until = time.monotonic() + self.keep_seconds
            known = {r["id"]: _entry(_state(r), until) for r in rows}
            # Read meanwhile (a refusal confirmed): as new as the load, or newer.
            for user_id, state in self._heard.items():
                if user_id not in known or known[user_id][0].version < state.version:
                    known[user_id] = _entry(state, until)
        finally:
            self._heard = None
        self._known = known
        self._prune_at = max(_PRUNE_AT, 2 * len(known))

    def trust(self) -> None:
        """The map holds every change that matters: check against it alone, and check every
        watching connection again."""
        self.synced = True
        for watchers in list(self._watchers.values()):
            for watcher in list(watchers):
                watcher()

    def lost(self) -> None:
        """The LISTEN connection is gone: changes may be missed until the next reload."""
        self.synced = False

    def _apply(self, user_id: int, state: AccountState) -> None:
        """Keep the latest state of the account, whatever order states arrive in."""
        if self._heard is not None:
            heard = self._heard.get(user_id)
            if heard is None or heard.version < state.version:
                self._heard[user_id] = state
        pending = self._pending.get(user_id)
        if pending is not None and pending[0] <= state.version:
            del self._pending[user_id]
        known = self._known.get(user_id)
        if known is not None and known[0].version >= state.version:
            return
        self._known[user_id] = _entry(state, time.monotonic() + self.keep_seconds)
        if len(self._known) >= self._prune_at:
            self._prune()
        for watcher in list(self._watchers.get(user_id, ())):
            watcher()

    def _prune(self) -> None:
        now = time.monotonic()
        self._known = {k: v for k, v in self._known.items() if v[1] > now}
        self._pending = {k: v for k, v in self._pending.items() if v[1] > now}
        self._prune_at = max(_PRUNE_AT, 2 * len(self._known))

    def _changed_here(self, user_id: int, version: int) -> None:
        """This instance changed the account (maybe not committed yet): read it from the
        database until the change is heard."""
        self._pending[user_id] = (version, time.monotonic() + _PENDING_SECONDS)

    @contextmanager
    def watching(self, user_id: int, recheck: Callable[[], None]) -> Iterator[None]:
        """Call ``recheck`` (no I/O, see ``refusal``) whenever a change to the account is
        heard, and after every reload of the map, while inside."""
        watchers = self._watchers.setdefault(user_id, set())
        watchers.add(recheck)
        try:
            yield
        finally:
            watchers.discard(recheck)
            if not watchers:
                self._watchers.pop(user_id, None)

    # --- what admins do --------------------------------------------------------------------

    async def list(self, skip: int, limit: int) -> list[Row]:
        return await self.db.fetchall(q.LIST_USERS, skip=skip, limit=limit)

    async def update(
        self, by: Principal, user_id: int, *, disabled: bool | None, role: Role | None
    ) -> Row:
        """Disable or enable the account and/or change its role (None: leave it); each change
        is recorded. Disabling ends its sessions. 404 for no such account; 409 for a change
        to one's own account that would lock oneself out, for one that would leave no
        enabled admin, and for an API token's account."""
        async with self.db.transaction() as tx:
            target = await tx.fetchone(q.ACCOUNT_FOR_CHANGE, user_id=user_id)
            if target is None:
                raise NotFound(f"User {user_id} not found")
            _refuse_unsafe(by, target, disabled, role)
            row = answer(
                await tx.fetchone(
                    q.UPDATE_ACCOUNT, user_id=user_id, disabled=disabled, role=role, **by.audit()
                ),
                Row,  # the account is locked: it is still there
            )
            self._changed_here(user_id, row["version"])
        return row

    async def end_sessions(self, by: Principal, user_id: int) -> q.SessionsEndedOutcome:
        """End every session of the account, and so its refresh tokens, and every access
        token issued so far; it may log in again. Answers how many sessions were live."""
        async with self.db.transaction() as tx:
            # The account's row lock orders this after any login in progress, whose new
            # session this statement then sees and ends too.
            if await tx.fetchone(q.ACCOUNT_FOR_CHANGE, user_id=user_id) is None:
                raise NotFound(f"User {user_id} not found")
            row = answer(
                await tx.fetchone(q.END_SESSIONS, user_id=user_id, **by.audit()),
                q.SessionsEndedOutcome,
            )
            self._changed_here(user_id, row["version"])
        return row

    async def purge_sessions(self, grace_seconds: int, batch: int = 10_000) -> int:
        """Delete sessions that ended more than ``grace_seconds`` ago; answer how many."""
        purged = 0
        while True:
            deleted = await self.db.execute(
                q.PURGE_SESSIONS, grace_seconds=grace_seconds, batch=batch
            )
            purged += deleted
            if deleted < batch:
                return purged


def _entry(state: AccountState, until: float) -> tuple[AccountState, float]:
    return state, math.inf if state.disabled else until


def _refuse_unsafe(by: Principal, target: Row, disabled: bool | None, role: Role | None) -> None:
    user_id = target["id"]
    disabling = disabled is True and not target["disabled"]
    enabling = disabled is False and target["disabled"]
    demoting = role is not None and role != "admin" and target["role"] == "admin"
    if target["api_token"] and (disabling or enabling or role not in (None, target["role"])):
        raise Conflict(
            f"User {user_id} is an API token's account: revoke the token instead "
            "(DELETE /api/v1/tokens/{id})"
        )
    if user_id == by.user_id and (disabling or demoting):
        action = "disable" if disabling else "demote"
        raise Conflict(f"You cannot {action} your own account; ask another admin")
    # Nobody can lock themselves out, so this guards against an admin API token.
    enabled_admin = target["role"] == "admin" and not target["disabled"]
    if enabled_admin and (disabling or demoting) and target["other_admins"] == 0:
        raise Conflict(f"User {user_id} is the last enabled admin: promote another account first")
