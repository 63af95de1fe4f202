"""Integration API tokens: long-lived, named, revocable bearer tokens that admins issue to
third parties.

A token is ``bo_<id>_<secret>``: the id finds its row, the secret (256 random bits) proves
possession, and only the secret's SHA-256 is stored. Each token acts as an account of its
own, made with it, whose bookings are the token's; the account's password is a random
secret nobody keeps, so nobody logs in as it.

Checking a token costs a database round trip, so a checked token is remembered for
``api_token_cache_seconds`` (5 s by default). Revoking one forgets it at once on the
instance that revoked it; other instances stop accepting it within that many seconds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from common.models import Role

from . import queries as q
from .audit import Signs
from .db import Database, Row, answer
from .envelope import Conflict, NotFound, Unauthorized
from .security import Passwords, Principal

PREFIX = "bo_"
_FORMAT = re.compile(r"^bo_([1-9][0-9]{0,18})_([A-Za-z0-9_-]{43})$")
# last_used_at is written at most this often per token (and instance cache period).
TOUCH_SECONDS = 60
# Forget expired cache entries once the cache holds this many.
_CACHE_PRUNE_AT = 1024


@dataclass(frozen=True, slots=True)
class TokenSecret:
    token_id: int
    secret: str

    @classmethod
    def parse(cls, token: str) -> TokenSecret:
        m = _FORMAT.match(token)
        if m is None:
            raise Unauthorized("Invalid API token")
        return cls(int(m.group(1)), m.group(2))

    @property
    def hash(self) -> str:
        # 256 random bits: a fast hash is enough, there is no dictionary to attack.
        return hash_secret(self.secret)

    def __str__(self) -> str:
        return f"{PREFIX}{self.token_id}_{self.secret}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_api_token(token: str) -> bool:
    return token.startswith(PREFIX)


def account_name(name: str) -> str:
    """A username for a token's account: readable, and unguessable so nobody can take it
    first by registering it."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:40]
    suffix = secrets.token_hex(4)
    return f"token-{slug}-{suffix}" if slug else f"token-{suffix}"


class ApiTokens:
    def __init__(self, db: Database, passwords: Passwords, cache_seconds: float) -> None:
        self.db = db
        self.passwords = passwords
        self.cache_seconds = cache_seconds
        # sha256 of the whole token -> (who, monotonic time the entry is good until)
        self._cache: dict[str, tuple[Principal, float]] = {}
        # Bumped by every revoke: a check that began before one does not cache its answer.
        self._revocations = 0

    async def verify(self, token: str) -> Principal:
        """The principal of a live token; 401 for a malformed, unknown or revoked one."""
        parsed = TokenSecret.parse(token)
        digest = parsed.hash
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        revocations = self._revocations
        row = await self.db.fetchone(
            q.USE_API_TOKEN,
            token_id=parsed.token_id,
            token_hash=digest,
            touch_seconds=TOUCH_SECONDS,
        )
        if row is None:
            self._cache.pop(digest, None)
            raise Unauthorized("Invalid or revoked API token")
        who = Principal(row["user_id"], f"token:{row['name']}", row["role"], token_id=row["id"])
        if self.cache_seconds > 0 and revocations == self._revocations:
            if len(self._cache) >= _CACHE_PRUNE_AT:
                self._cache = {k: v for k, v in self._cache.items() if v[1] > now}
            self._cache[digest] = (who, now + self.cache_seconds)
        return who

    async def issue(self, by: Signs, name: str, role: Role) -> tuple[Row, str]:
        """A new token and its account; answers the row and the token, shown only now."""
        secret = secrets.token_urlsafe(32)
        # A password nobody knows, hashed like any other so logins treat it like any other.
        password_hash = await self.passwords.hash(secrets.token_urlsafe(32))
        row = await self.db.fetchone(
            q.ISSUE_API_TOKEN,
            name=name,
            role=role,
            username=account_name(name),
            password_hash=password_hash,
            token_hash=hash_secret(secret),
            **by.audit(),
        )
        if row is None:  # the random account name was taken: vanishingly rare
            raise Conflict("Could not create the token's account; try again")
        return row, str(TokenSecret(row["id"], secret))

    async def revoke(self, by: Principal, token_id: int) -> q.RevokeOutcome:
        row = answer(
            await self.db.fetchone(q.REVOKE_API_TOKEN, token_id=token_id, **by.audit()),
            q.RevokeOutcome,
        )
        if row["id"] is None:
            if row["known_id"] is None:
                raise NotFound(f"Token {token_id} not found")
            raise Conflict(f"Token {token_id} is already revoked")
        self._revocations += 1
        self._cache = {k: v for k, v in self._cache.items() if v[0].token_id != token_id}
        return row

    async def list(self, skip: int, limit: int) -> list[Row]:
        return await self.db.fetchall(q.LIST_API_TOKENS, skip=skip, limit=limit)
