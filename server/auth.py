"""Accounts, logins, refresh-token rotation, and throttling logins and registrations."""

from __future__ import annotations

import asyncio
import ipaddress
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from common.models import Role, TokenPair

from . import queries as q
from .audit import SYSTEM, Signs, registration
from .config import Config
from .db import Database, Row, answer
from .envelope import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
from .security import AccessTokens, Passwords, Principal, RefreshToken

# Names no account may take, whoever creates it: the audit log's actors that are not
# accounts ("system", "cli"), so no record can be passed off as theirs.
ACTOR_NAMES = frozenset({"system", "cli"})
# Names kept from accounts made through the API (self-registration and admins), because
# they look official. The command line and the demo seed, run by whoever runs the server,
# may use them: the demo's admin account is called "admin".
RESERVED_NAMES = ACTOR_NAMES | frozenset(
    {"admin", "administrator", "root", "boxoffice", "staff", "support", "security"}
)


def username_key(username: str) -> str:
    """The form usernames are compared, counted and locked in: NFKC, then casefold (and
    NFKC again, as casefolding can undo it). "Alice" in fullwidth letters is "alice";
    "ALİCE" (a dotted capital I) is not, though PostgreSQL's lower() makes it so."""
    folded = unicodedata.normalize("NFKC", username).casefold()
    return unicodedata.normalize("NFKC", folded)


def address_key(address: str) -> str:
    """What a client address is counted as: an IPv4 address, or the /64 of an IPv6 one
    (one subscriber gets a whole /64, so counting single addresses would count nothing)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


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
        self,
        username: str,
        password: str,
        role: Role,
        *,
        by: Signs = SYSTEM,
        operator: bool = False,
    ) -> Row:
        """Create an account and its user.create record, signed by ``by``: the admin, the
        command line, the new account itself (``audit.registration``) or the system.
        ``operator`` (the command line, the demo seed) may take the names in RESERVED_NAMES
        but those in ACTOR_NAMES; nobody else may take either."""
        key = username_key(username)
        if key in (ACTOR_NAMES if operator else RESERVED_NAMES):
            raise Invalid.field("username", f"{username!r} is a reserved name")
        with self.passwords.slot():
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

    async def register(self, username: str, password: str, address: str) -> Row:
        """A self-registration from ``address``, counted against the address's allowance
        first (a taken name included, so names cannot be probed for quickly)."""
        now = datetime.now(UTC)
        counted = answer(
            await self.db.fetchone(
                q.COUNT_REGISTRATION,
                address=address_key(address),
                window_start=now - timedelta(seconds=self.config.register_window),
            ),
            q.RegistrationCount,
        )
        if counted["hits"] > self.config.register_max_per_address:
            retry = max(1, int(counted["retry_after"]))
            raise TooManyRequests(
                f"Too many registrations from this address; try again in {retry} s", retry
            )
        return await self.create_user(username, password, "user", by=registration(address))

    async def login(self, username: str, password: str, address: str = "") -> TokenPair:
        key = username_key(username)
        # The bcrypt slot before the wait for the username, or a flood on a few names would
        # queue here without limit.
        with self.passwords.slot():
            # One attempt per username at a time (per instance): otherwise a burst of
            # parallel guesses would all pass the lock check before the first failure is
            # counted.
            async with self._attempts.hold(key):
                return await self._login(key, password, address_key(address))

    async def _login(self, username: str, password: str, address: str) -> TokenPair:
        found = answer(
            await self.db.fetchone(q.LOGIN_LOOKUP, username=username, address=address),
            q.LoginLookup,
        )
        if found["retry_after"] is not None:
            retry = max(1, int(found["retry_after"]))
            raise TooManyRequests(f"Too many failed logins; try again in {retry} s", retry)
        if not await self.passwords.check(password, found["password_hash"]):
            now = datetime.now(UTC)
            config = self.config
            await self.db.execute(
                q.RECORD_LOGIN_FAILURE,
                username=username,
                address=address,
                window_start=now - timedelta(seconds=config.login_window),
                max_failures=config.login_max_failures,
                max_per_username=config.login_max_failures_per_username,
                max_per_address=config.login_max_failures_per_address,
                locked_until=now + timedelta(seconds=config.login_lockout),
            )
            raise Unauthorized("Wrong username or password")
        await self.db.execute(q.CLEAR_LOGIN_FAILURES, username=username, address=address)
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
        # The role read with the epoch, under the row lock, not the one read before the
        # password check: what accounts.py counts on.
        who = Principal(found["id"], found["username"], session["role"], epoch=session["epoch"])
        return self._pair(who, refresh)

    async def unlock(self, by: Principal, user_id: int) -> Row:
        """Clear every failed-login count of an account's name, from every address, with a
        user.unlock record. (A lock on an address, across names, stays until it ends.)"""
        row = await self.db.fetchone(q.UNLOCK_USER, user_id=user_id, **by.audit())
        if row is None:
            raise NotFound(f"User {user_id} not found")
        return row

    async def purge_throttles(self) -> int:
        """Forget counts whose window has passed and that lock nothing."""
        now = datetime.now(UTC)
        return await self.db.execute(
            q.PURGE_THROTTLES,
            login_window_start=now - timedelta(seconds=self.config.login_window),
            register_window_start=now - timedelta(seconds=self.config.register_window),
        )

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
