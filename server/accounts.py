"""Accounts as admins control them: list, disable and enable, change the role, end every
session; and the check that makes those changes bite on access tokens already handed out.

An access token (a JWT) is good for 15 minutes without the database. So that disabling an
account, changing its role or ending its sessions stops its tokens within seconds, every
request with one also checks the account's state: not disabled, the same role as the
token says, and the token issued in the account's current session epoch (ending the
sessions starts a new one). The state is cached per account for ``account_cache_seconds``
(5 s), so the hot path pays no round trip in steady state; a change forgets it at once on
the instance that made it, and the other instances read it again within that period. Only
a passing answer is taken from the cache: a refusal is always checked against the
database first, so someone re-enabled, promoted or logged in again elsewhere is not turned
away by a stale entry.

An integration API token is an account of its own, made with it (see ``api_tokens.py``):
disabling the admin who issued it leaves it working, and its own account is managed by
revoking the token (PATCH on it is a 409).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from common.models import Role

from . import queries as q
from .db import Database, Row, answer
from .envelope import Conflict, NotFound, Unauthorized
from .security import Principal

# Forget expired cache entries once the cache holds this many.
_CACHE_PRUNE_AT = 4096


@dataclass(frozen=True, slots=True)
class AccountState:
    """What decides whether an access token of the account still works."""

    role: Role
    disabled: bool
    epoch: int

    def refusal(self, who: Principal) -> str | None:
        """Why ``who``'s access token no longer works, or None when it does."""
        if self.disabled:
            return "This account is disabled"
        if who.epoch < self.epoch:
            return "Access token revoked: the account's sessions were ended; log in again"
        if who.role != self.role:
            return "Access token outdated: the account's role changed; refresh it"
        return None


class Accounts:
    def __init__(self, db: Database, cache_seconds: float) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        # user id -> (state, monotonic time the entry is good until)
        self._cache: dict[int, tuple[AccountState, float]] = {}
        # Bumped by every change: a read that began before one does not cache its answer.
        self._changes = 0

    # --- the check of access tokens ------------------------------------------------------

    async def check(self, who: Principal) -> None:
        """401 unless the account of ``who``'s access token may still use it."""
        hit = self._cache.get(who.user_id)
        if hit is not None and hit[1] > time.monotonic() and hit[0].refusal(who) is None:
            return
        state = await self._read(who.user_id)
        if state is None:
            raise Unauthorized("This account no longer exists")
        reason = state.refusal(who)
        if reason is not None:
            raise Unauthorized(reason)

    async def _read(self, user_id: int) -> AccountState | None:
        changes = self._changes
        row = await self.db.fetchone(q.ACCOUNT_STATE, user_id=user_id)
        if row is None:
            self._cache.pop(user_id, None)
            return None
        state = AccountState(row["role"], row["disabled"], row["epoch"])
        if self.cache_seconds > 0 and changes == self._changes:
            now = time.monotonic()
            if len(self._cache) >= _CACHE_PRUNE_AT:
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            self._cache[user_id] = (state, now + self.cache_seconds)
        return state

    def _forget(self, user_id: int) -> None:
        self._changes += 1
        self._cache.pop(user_id, None)

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
        try:
            async with self.db.transaction() as tx:
                target = await tx.fetchone(q.ACCOUNT_FOR_CHANGE, user_id=user_id)
                if target is None:
                    raise NotFound(f"User {user_id} not found")
                _refuse_unsafe(by, target, disabled, role)
                row = await tx.fetchone(
                    q.UPDATE_ACCOUNT, user_id=user_id, disabled=disabled, role=role, **by.audit()
                )
        finally:
            self._forget(user_id)
        return answer(row, Row)  # the account is locked: it is still there

    async def end_sessions(self, by: Principal, user_id: int) -> q.SessionsEndedOutcome:
        """End every session of the account, and so its refresh tokens, and every access
        token issued so far; it may log in again. Answers how many sessions were live."""
        try:
            async with self.db.transaction() as tx:
                # The account's row lock orders this after any login in progress, whose
                # new session this statement then sees and ends too.
                if await tx.fetchone(q.ACCOUNT_FOR_CHANGE, user_id=user_id) is None:
                    raise NotFound(f"User {user_id} not found")
                row = await tx.fetchone(q.END_SESSIONS, user_id=user_id, **by.audit())
        finally:
            self._forget(user_id)
        return answer(row, q.SessionsEndedOutcome)

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
