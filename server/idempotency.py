"""``Idempotency-Key``: safe retries for integrations.

A request that changes something (POST, PUT, PATCH or DELETE by a logged-in caller) may
carry an ``Idempotency-Key`` header: 1 to 255 visible ASCII characters, chosen by the
caller (a UUID will do). The first final answer to a (caller, key) is kept for 24 hours
(``idempotency_key_ttl``); a retry of the same request (same method, path and JSON body)
gets that answer again, with ``Idempotent-Replayed: true``, and nothing is done twice. The
same key with a different request is a 422 naming the field ``Idempotency-Key``. Keys are
per caller: a user's account, or an API token.

How: the request runs on a connection of its own, in one transaction that first takes an
advisory lock on (caller, key) and looks the key up. The handler's statements run in that
transaction too (``Database.session`` binds the connection to the request's task; see
server/db.py), and the answer is stored in it, so the work and its record commit together
or not at all: there is no window in which the work is done but its key is not (a crash,
a lost connection), and concurrent retries queue on the lock and replay the first one's
answer. 2xx and 4xx answers are kept (a 4xx's statements are rolled back to a savepoint
first); 429s and 5xx are not, so those may be retried with the same key. Input that fails
validation (a 422 before the handler runs) is not kept either. A handler whose answer
holds a secret keeps a version without it instead (``KEEP_AS``): a retry of a token's
issue learns the token, not its secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import queries as q
from .auth import KeyedLock
from .db import Database, Row, Statements, script
from .envelope import ApiError, Invalid, error_response
from .security import Principal

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Forgetting keys past their time runs this often (or once a ttl, when that is shorter).
PURGE_SECONDS = 300.0
# What to keep and replay instead of the answer's body (JSON text), when that holds a secret.
KEEP_AS = web.ResponseKey("idempotency_keep_as", str)

_KEY = re.compile(r"[\x21-\x7e]{1,255}")

# One round trip before the handler and one after: the lock, then the lookup (a statement
# of its own, so its snapshot sees what the lock's previous holder committed).
_BEGIN = script("BEGIN", q.IDEMPOTENCY_LOCK, "SAVEPOINT idempotent_request", q.IDEMPOTENCY_LOOKUP)
_KEEP = script(q.IDEMPOTENCY_STORE, "COMMIT")
_UNDO_AND_KEEP = script("ROLLBACK TO SAVEPOINT idempotent_request", q.IDEMPOTENCY_STORE, "COMMIT")
# A replay's transaction takes a transaction id, so its COMMIT writes a commit record and, on
# a primary with a synchronous standby, waits until the standby has every commit before it,
# the replayed one's included. Without it, a retry could replay work that is only on an old
# primary come back for a moment after a failover (committed there, visible, but never
# acknowledged by its standby): an answer 2xx for a booking the new primary does not have.
_DURABLE_COMMIT = script("SELECT pg_current_xact_id()", "COMMIT")
_ROLLBACK = script("ROLLBACK")

Handler = Callable[[], Awaitable[web.StreamResponse]]


def requested_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key; None without one, or when its method only reads."""
    if request.method not in METHODS:
        return None
    values = request.headers.getall(HEADER, [])
    if not values:
        return None
    if len(values) > 1:
        raise Invalid.field(HEADER, "send one key, not several")
    if not _KEY.fullmatch(values[0]):
        raise Invalid.field(HEADER, "must be 1 to 255 visible ASCII characters (no spaces)")
    return values[0]


async def fingerprint(request: web.Request) -> str:
    """What makes two requests the same: method, path and query, and the body (as JSON
    when it is JSON, so spacing and key order do not count)."""
    raw = await request.read()
    body: bytes = raw
    if raw.strip():
        with contextlib.suppress(ValueError, RecursionError):
            body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(f"{request.method} {request.path_qs}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _keeps(status: int) -> bool:
    """A final answer: the same request would be answered the same way again."""
    return 200 <= status < 500 and status != 429


class Idempotency:
    def __init__(self, db: Database, ttl: int) -> None:
        self.db = db
        self.ttl = ttl
        # Retries of one key on this instance wait here, not each on a pooled connection.
        self._local = KeyedLock()

    async def run(
        self, who: Principal, key: str, request_hash: str, handler: Handler
    ) -> web.StreamResponse:
        """The handler's answer, once per (caller, key); the kept answer after that."""
        params = {"owner": who.owner, "key": key}
        async with self._local.hold(f"{who.owner} {key}"), self.db.session() as tx:
            found = await tx.fetchone(_BEGIN, **params, ttl_seconds=self.ttl)
            if found is None:
                return await self._first(tx, params, request_hash, handler)
            await tx.execute(_DURABLE_COMMIT)
        return _replay(found, request_hash)

    async def _first(
        self, tx: Statements, params: dict[str, str], request_hash: str, handler: Handler
    ) -> web.StreamResponse:
        try:
            response = await handler()
        except ApiError as exc:
            response = error_response(exc.code, exc.message, exc.data, exc.headers)
        body = response.body if isinstance(response, web.Response) else None
        if not _keeps(response.status) or not isinstance(body, bytes):
            await tx.execute(_ROLLBACK)
            return response
        await tx.execute(
            _KEEP if response.status < 400 else _UNDO_AND_KEEP,
            **params,
            request_hash=request_hash,
            status=response.status,
            response=response.get(KEEP_AS) or body.decode(),
        )
        return response

    @property
    def purge_interval(self) -> float:
        return min(PURGE_SECONDS, float(self.ttl))

    async def purge(self) -> int:
        """Forget keys past their time to live; answer how many."""
        return await self.db.execute(q.IDEMPOTENCY_PURGE, ttl_seconds=self.ttl)


def _replay(found: Row, request_hash: str) -> web.Response:
    if found["request_hash"] != request_hash:
        raise Invalid.field(
            HEADER, "this key was already used for a different request; use a new key"
        )
    return web.Response(
        status=found["status"],
        text=found["response"],
        content_type="application/json",
        headers={REPLAYED_HEADER: "true"},
    )
