"""Access tokens, refresh secrets and password hashing.

bcrypt is deliberately slow, so it always runs in a small thread pool, never on the
event loop (bcrypt releases the GIL while it hashes).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import bcrypt
import jwt

from common.models import ROLES, STAFF_ROLES, Role

from .envelope import ServiceUnavailable, Unauthorized

ALGORITHM = "HS256"

# Access tokens whose signature and claims were checked, kept until they expire: a client
# sends the same token on every request for its lifetime (15 minutes by default), and
# checking it again costs more than the rest of a cached browse. Bounded: the oldest go.
VERIFIED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is making a request, as their access token says."""

    user_id: int
    username: str
    role: Role
    source: str = ""  # the client's address, for the audit log
    token_id: int | None = None  # set when an integration API token made the request
    # The account's session epoch when its access token was issued: ending the account's
    # sessions starts a new epoch, and access tokens of an earlier one are refused.
    epoch: int = 0

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def owner(self) -> str:
        """Whose idempotency keys these are: a token's own, else the account's."""
        return f"token:{self.token_id}" if self.token_id is not None else f"user:{self.user_id}"

    def audit(self) -> dict[str, object]:
        """The parameters that sign an audit record with this principal."""
        return {"actor_id": self.user_id, "actor": self.username, "source": self.source}


class AccessTokens:
    def __init__(self, secret: str, ttl: int, *, remember: int = VERIFIED_TOKENS) -> None:
        self._secret = secret
        self.ttl = ttl
        self._remember = remember
        self._verified: dict[str, tuple[Principal, float]] = {}

    def issue(self, who: Principal) -> str:
        now = int(time.time())
        claims = {
            "sub": str(who.user_id),
            "name": who.username,
            "role": who.role,
            "typ": "access",
            "epoch": who.epoch,
            "iat": now,
            "exp": now + self.ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        return self.verify_with_expiry(token)[0]

    def verify_with_expiry(self, token: str) -> tuple[Principal, float]:
        """The principal and the Unix time its token expires. A token checked before is
        not checked again until it expires (what else can make it invalid, the account's
        state, is ``Accounts.check``'s, on every request)."""
        known = self._verified.get(token)
        if known is not None:
            if time.time() < known[1]:
                return known
            del self._verified[token]
            raise Unauthorized("Access token expired")
        verified = self._verify(token)
        if len(self._verified) >= self._remember:
            del self._verified[next(iter(self._verified))]  # the oldest checked
        self._verified[token] = verified
        return verified

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            # An explicit algorithm list refuses "alg: none" and algorithm confusion.
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Access token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("Invalid access token") from None
        if claims.get("typ") != "access" or claims.get("role") not in ROLES:
            raise Unauthorized("Invalid access token")
        # Tokens issued before epochs existed carry none: the first epoch.
        epoch = claims.get("epoch", 0)
        if type(epoch) is not int or epoch < 0:
            raise Unauthorized("Invalid access token")
        try:
            who = Principal(
                int(claims["sub"]), str(claims.get("name", "")), claims["role"], epoch=epoch
            )
            return who, float(claims["exp"])
        except (TypeError, ValueError):
            raise Unauthorized("Invalid access token") from None


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """``<session id>.<secret>``: the id finds the session, the secret proves possession."""

    session_id: uuid.UUID
    secret: str

    @classmethod
    def new(cls, session_id: uuid.UUID | None = None) -> RefreshToken:
        return cls(session_id or uuid.uuid4(), secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, token: str) -> RefreshToken:
        sid, _, secret = token.partition(".")
        try:
            return cls(uuid.UUID(sid), secret)
        except ValueError:
            raise Unauthorized("Invalid refresh token") from None

    def __str__(self) -> str:
        return f"{self.session_id}.{self.secret}"

    @property
    def hash(self) -> str:
        # The secret is 256 random bits, so a fast hash is enough (no dictionary to attack).
        return hashlib.sha256(self.secret.encode()).hexdigest()


class Passwords:
    """bcrypt in a dedicated thread pool, so hashing never blocks the event loop.

    Work that will need a hash takes a ``slot()`` first: a login before it waits its turn
    for its username, an account before it is hashed. At most ``limit`` slots are held at
    once (None: no limit, for the command line); past that a 503 comes at once, so a flood
    of logins gets quick refusals instead of a queue that grows for as long as it lasts.
    """

    def __init__(self, rounds: int, executor: ThreadPoolExecutor, limit: int | None = None) -> None:
        self.rounds = rounds
        self._executor = executor
        self._limit = limit
        self._pending = 0
        # Checked against when the username does not exist, so timing reveals nothing.
        self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        salt = bcrypt.gensalt(self.rounds)
        hashed = await self._run(bcrypt.hashpw, password.encode(), salt)
        return hashed.decode()

    async def check(self, password: str, hashed: str | None) -> bool:
        target = hashed.encode() if hashed else self._dummy
        matched = await self._run(bcrypt.checkpw, password.encode(), target)
        return matched and hashed is not None

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of the limited places for work that will hash; 503 when none is free."""
        if self._limit is not None and self._pending >= self._limit:
            raise ServiceUnavailable("Too many logins and registrations at once; retry shortly")
        self._pending += 1
        try:
            yield
        finally:
            self._pending -= 1

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
