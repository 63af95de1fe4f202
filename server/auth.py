"""Accounts, logins, refresh-token rotation and login throttling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from common.models import Role, TokenPair

from . import queries as q
from .audit import SYSTEM, Signs
from .config import Config
from .db import Database, Row
from .envelope import Conflict, Forbidden, TooManyRequests, Unauthorized
from .security import AccessTokens, Passwords, Principal, RefreshToken


class Auth:
    def __init__(
        self, db: Database, passwords: Passwords, tokens: AccessTokens, config: Config
    ) -> None:
        self.db = db
        self.passwords = passwords
        self.tokens = tokens
        self.config = config
        self._attempts = KeyedLock()

    async def create_user(
        self, username: str, password: str, role: Role, *, by: Signs = SYSTEM
    ) -> Row:
        """Create an account and its user.create record, signed by ``by``: the admin, the
        command line, the new account itself (``audit.registration``) or the system."""
        password_hash = await self.passwords.hash(password)
        row = await self.db.fetchone(
            q.INSERT_USER,
            username=username,
            password_hash=password_hash,
            role=role,
            **by.audit(),
        )
        if row is None:
            raise Conflict(f"The username {username!r} is taken")
        return row

    async def login(self, username: str, password: str) -> TokenPair:
        # One attempt per username at a time (per instance): otherwise a burst of parallel
        # guesses would all pass the lock check before the first failure is counted.
        async with self._attempts.hold(username.lower()):
            return await self._login(username, password)

    async def _login(self, username: str, password: str) -> TokenPair:
        found = await self.db.fetchone(q.LOGIN_LOOKUP, username=username)
        assert found is not None  # the lookup always answers one row
        if found["retry_after"] is not None:
            retry = max(1, int(found["retry_after"]))
            raise TooManyRequests(
                f"Too many failed logins for this username; try again in {retry} s", retry
            )
        if not await self.passwords.check(password, found["password_hash"]):
            now = datetime.now(UTC)
            await self.db.fetchone(
                q.RECORD_LOGIN_FAILURE,
                username=username,
                window_start=now - timedelta(seconds=self.config.login_window),
                max_failures=self.config.login_max_failures,
                locked_until=now + timedelta(seconds=self.config.login_lockout),
            )
            raise Unauthorized("Wrong username or password")
        await self.db.execute(q.CLEAR_LOGIN_FAILURES, username=username)
        refresh = RefreshToken.new()
        session = await self.db.fetchone(
            q.CREATE_SESSION,
            session_id=refresh.session_id,
            user_id=found["id"],
            token_hash=refresh.hash,
            expires_at=self._refresh_expiry(),
        )
        if session is None:  # only the password's holder learns this
            raise Forbidden("This account is disabled; ask an administrator")
        who = Principal(found["id"], found["username"], found["role"], epoch=session["epoch"])
        return self._pair(who, refresh)

    async def refresh(self, token: str) -> TokenPair:
        old = RefreshToken.parse(token)
        new = RefreshToken.new(old.session_id)
        row = await self.db.fetchone(
            q.ROTATE_SESSION,
            session_id=old.session_id,
            old_hash=old.hash,
            new_hash=new.hash,
            expires_at=self._refresh_expiry(),
            max_age_seconds=self.config.session_max_age,
        )
        if row is None:
            # A rotated-away secret is being replayed: whoever holds it must not keep the
            # session, so it ends for everyone holding any of its tokens.
            await self.db.execute(q.REVOKE_SESSION, session_id=old.session_id)
            raise Unauthorized("Refresh token is invalid, expired or already used")
        who = Principal(row["id"], row["username"], row["role"], epoch=row["epoch"])
        return self._pair(who, new)

    async def logout(self, token: str) -> None:
        refresh = RefreshToken.parse(token)
        row = await self.db.fetchone(
            q.LOGOUT_SESSION, session_id=refresh.session_id, token_hash=refresh.hash
        )
        if row is None:
            raise Unauthorized("Refresh token is invalid or already logged out")

    async def get_user(self, user_id: int) -> Row:
        row = await self.db.fetchone(q.GET_USER, user_id=user_id)
        if row is None:
            raise Unauthorized("This account no longer exists")
        return row

    def _pair(self, who: Principal, refresh: RefreshToken) -> TokenPair:
        return TokenPair(
            access_token=self.tokens.issue(who),
            refresh_token=str(refresh),
            expires_in=self.tokens.ttl,
            role=who.role,
        )

    def _refresh_expiry(self) -> datetime:
        """Sliding, but never past the session's absolute end (for a new session; a refresh
        caps it at the session's start plus session_max_age in the database)."""
        ttl = min(self.config.refresh_token_ttl, self.config.session_max_age)
        return datetime.now(UTC) + timedelta(seconds=ttl)


class KeyedLock:
    """An asyncio lock per key, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
