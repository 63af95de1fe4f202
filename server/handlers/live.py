"""GET /api/v1/ws: live seat updates over a websocket. The protocol is in ``PROTOCOL``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated

import psycopg2
from aiohttp import WSMsgType, web
from pydantic import Field, TypeAdapter, ValidationError

from common.models import (
    FieldError,
    Hello,
    LiveError,
    LiveEvent,
    LiveSeatChanges,
    LiveSeatMap,
    Ping,
    Pong,
    Reauthenticate,
    Subscribe,
    Subscribed,
    Unsubscribe,
)

from ..api import ANY_ROLE, bearer_token, endpoint, identify
from ..envelope import Unauthorized, connection_lost
from ..keys import ACCOUNTS, API_TOKENS, CONFIG, HUB, TOKENS
from ..live import (
    CLOSE_CODES,
    CLOSE_INTERNAL_ERROR,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    Subscriber,
    TooManySubscribes,
)
from ..periodic import every

PROTOCOL = """\
A websocket for live seat availability. Authenticate with an access token (JWT) or an
integration API token (`bo_...`), in an `Authorization: Bearer` header or, for clients
that cannot set headers, a `token` query parameter. The server first sends `hello`; then
send JSON text messages:

- `{"type": "subscribe", "events": [1, 2]}` or `{"type": "subscribe", "events": "all"}`
  (every event, including ones created later). The server answers `subscribed` (with the
  ids that match no event in `missing`), then a `snapshot` of each event that the
  connection did not follow yet (to get a fresh one, unsubscribe first). A connection may
  make 10 subscribes that bring new events at once, then one a second; sooner ones
  get an `error` reply saying when to retry, and change nothing.
- `{"type": "unsubscribe", "events": [1]}` or `"all"`; answered by `unsubscribed`.
- `{"type": "auth", "token": "..."}`: a fresh access token, before `token_expires_at`.
  Only for connections made with an access token: an API token does not expire
  (`token_expires_at` is null), so on its connections `auth` gets an `error` reply and
  changes nothing.
- `{"type": "ping"}`: answered by `pong`.

After a snapshot, every change to a subscribed event is sent as a `LiveEvent` message of
type `seats` (booked, cancelled, held, expired, capacity changed), `created`, `updated` or
`deleted`. Each carries the event's `version`, which increases with every change and is
the same on every server instance: apply a message only if its version is higher than the
one you hold. A client that reads slowly gets the latest state of each event, not a
backlog. `snapshot` messages with reason `resync` follow a database reconnection.

A seated event subscribed to by id (not by "all") also gets its seat map: a `seat_map`
(the form of GET /api/v1/events/{id}/seats) after its snapshot, then `seat_changes`
messages: the seats that changed after version `since` up to `version`, each in its
latest state. Apply changes to a map at version v when since <= v < version, ignore
them when version <= v. A new `seat_map` (reason `resync` or `catch_up`) replaces the
map. common/seatmap.py's `SeatMap` does this.

A message the server cannot use (not JSON, nested too deep, a number too long, an
unknown type or a bad field) gets an `error` reply naming what is wrong; the connection
stays open. Close codes: 1001 the server is going away (reconnect); 1007 a text message
that is not UTF-8; 1009 message too large (over 64 KiB); 1011 an error on the server;
1013 the database was unavailable (reconnect shortly); 4401 missing, invalid, expired or
revoked token (log in again, or get a new API token); 4408 the client did not read its
messages in time (reconnect). The server pings every `heartbeat` seconds and drops peers
that do not answer. A connection made with an API token is checked again every
`BOXOFFICE_API_TOKEN_CACHE_SECONDS` (at least every second) and closed with 4401 once
the token is revoked. One made with an access token is closed with 4401 as soon as the
server hears that its account was disabled, its sessions were ended or its role changed
(reconnect with a refreshed token).
"""

log = logging.getLogger(__name__)

# Seconds to wait for the client's reply to our close frame.
CLOSE_HANDSHAKE_TIMEOUT = 2.0
# An API token's connection is checked again this often at most, even when the cache is off
# (a cache period of 0 checks every request; a socket has none).
MIN_RECHECK_SECONDS = 1.0

ClientMessage = TypeAdapter(
    Annotated[Subscribe | Unsubscribe | Reauthenticate | Ping, Field(discriminator="type")]
)


@endpoint(
    summary="Live seat updates (websocket)",
    tag="live",
    description=PROTOCOL,
    roles=ANY_ROLE,
    websocket=True,
    messages=(
        Subscribe,
        Unsubscribe,
        Reauthenticate,
        Ping,
        Hello,
        Subscribed,
        LiveEvent,
        LiveSeatMap,
        LiveSeatChanges,
        LiveError,
        Pong,
    ),
)
async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(
        heartbeat=request.app[CONFIG].ws_heartbeat,
        max_msg_size=64 * 1024,
        timeout=CLOSE_HANDSHAKE_TIMEOUT,
    )
    await ws.prepare(request)
    # Past prepare() the connection is a websocket: every refusal and failure must be a
    # close code, as an HTTP error response written now would reach the client as a
    # corrupt frame.
    try:
        await _serve(request, ws)
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        if not connection_lost(exc):
            raise
        log.warning("database unavailable on a websocket: %s", exc)
        await ws.close(code=CLOSE_TRY_AGAIN, message=CLOSE_CODES[CLOSE_TRY_AGAIN].encode())
    except Exception:
        log.exception("unhandled error on a websocket")
        await ws.close(code=CLOSE_INTERNAL_ERROR, message=b"internal error")
    return ws


async def _serve(request: web.Request, ws: web.WebSocketResponse) -> None:
    """Authenticate, then answer the client's messages until it or the server closes."""
    config = request.app[CONFIG]
    try:
        token = bearer_token(request, query=True)
        who, expires_at = await identify(request, token)
    except Unauthorized as exc:
        await ws.close(code=CLOSE_UNAUTHORIZED, message=exc.message.encode())
        return

    hub = request.app[HUB]
    sub = Subscriber(ws, who)
    hub.join(sub)
    sender = asyncio.create_task(sub.send_forever(config.ws_send_timeout))
    expiry = None if expires_at is None else _close_at(sub, expires_at)
    sub.say(
        Hello(
            user=who.username,
            role=who.role,
            token_expires_at=None if expires_at is None else int(expires_at),
            heartbeat=config.ws_heartbeat,
        ).model_dump_json()
    )
    try:
        async with _recheck(request, sub, token, expires_at is None):
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    expiry = await _handle(request, sub, msg.data, expiry)
                elif msg.type == WSMsgType.BINARY:
                    sub.say(_error("send JSON text messages, not binary ones"))
    finally:
        hub.leave(sub)
        if expiry is not None:
            expiry.cancel()
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender


def _close_at(sub: Subscriber, expires_at: float) -> asyncio.TimerHandle:
    """Close the connection when its token expires, unless a fresh one arrives first."""
    loop = asyncio.get_running_loop()
    delay = max(0.0, expires_at - time.time())
    return loop.call_later(delay, sub.close_soon, CLOSE_UNAUTHORIZED, "access token expired")


def _recheck(
    request: web.Request, sub: Subscriber, token: str, api_token: bool
) -> contextlib.AbstractAsyncContextManager[object]:
    """While open, close the connection with 4401 once its token no longer works: an API
    token revoked (checked again every cache period; it never expires, so this is what ends
    its connection), or an access token's account disabled, its sessions ended or its role
    changed (checked whenever the server hears of a change to it; its expiry is
    ``_close_at``'s)."""
    if not api_token:
        return _watch_account(request, sub)
    config = request.app[CONFIG]
    tokens = request.app[API_TOKENS]

    async def check_token() -> None:
        try:
            await tokens.verify(token)
        except Unauthorized:
            await sub.close(CLOSE_UNAUTHORIZED, "API token revoked")

    interval = max(config.api_token_cache_seconds, MIN_RECHECK_SECONDS)
    return every(interval, check_token, f"recheck API token {sub.who.token_id}")


@contextlib.asynccontextmanager
async def _watch_account(request: web.Request, sub: Subscriber) -> AsyncIterator[None]:
    accounts = request.app[ACCOUNTS]

    def recheck() -> None:
        reason = accounts.refusal(sub.who)  # sub.who: the latest token sent with auth
        if reason is not None:
            sub.close_soon(CLOSE_UNAUTHORIZED, reason)

    with accounts.watching(sub.who.user_id, recheck):
        yield


async def _handle(
    request: web.Request, sub: Subscriber, data: str, expiry: asyncio.TimerHandle | None
) -> asyncio.TimerHandle | None:
    try:
        message = ClientMessage.validate_json(data)
    except ValidationError as exc:
        sub.say(_invalid(exc))
        return expiry
    hub = request.app[HUB]
    if isinstance(message, Subscribe):
        ids = None if message.events == "all" else list(message.events)
        with sub.holding():  # the acknowledgement goes first, then the snapshots
            try:
                missing = await hub.subscribe(sub, ids)
            except TooManySubscribes as exc:
                sub.say(_error(str(exc)))
                return expiry
            ack = Subscribed(type="subscribed", events=message.events, missing=missing)
            sub.say(ack.model_dump_json())
    elif isinstance(message, Unsubscribe):
        ids = None if message.events == "all" else list(message.events)
        hub.unsubscribe(sub, ids)
        sub.say(Subscribed(type="unsubscribed", events=message.events).model_dump_json())
    elif isinstance(message, Reauthenticate):
        if expiry is None:  # an API token's connection: nothing expires, nothing to renew
            sub.say(_error("auth renews access tokens; this connection's API token never expires"))
            return expiry
        try:
            who, expires_at = request.app[TOKENS].verify_with_expiry(message.token)
            await request.app[ACCOUNTS].check(who)
        except Unauthorized as exc:
            sub.say(_error(exc.message))
            return expiry
        if who.user_id != sub.who.user_id:
            sub.say(_error("the token is for another account"))
            return expiry
        expiry.cancel()
        sub.who = who
        return _close_at(sub, expires_at)
    else:
        assert isinstance(message, Ping)
        sub.say(Pong().model_dump_json())
    return expiry


def _error(message: str, errors: list[FieldError] | None = None) -> str:
    return LiveError(message=message, errors=errors or []).model_dump_json()


def _invalid(exc: ValidationError) -> str:
    """The error reply to a message that failed validation, from pydantic's own findings:
    parsing the message again here could fail in its turn (too deep, too big a number)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    if first["type"] in ("json_invalid", "dict_type"):
        reason = first["msg"] if first["type"] == "json_invalid" else "not a JSON object"
        return _error(
            "messages must be JSON objects with a type",
            [FieldError(field="body", message=reason[:200])],
        )
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        kind = (first.get("ctx") or {}).get("tag")
        return _error(f"unknown message type {str(kind)[:40]!r}")
    kind = first["loc"][0]  # the other errors are inside a message of a known type
    fields = [
        FieldError(field=".".join(str(p) for p in e["loc"][1:]) or "body", message=e["msg"])
        for e in errors
    ]
    return _error(f"invalid {kind} message", fields)


__all__ = ["CLOSE_CODES", "PROTOCOL", "websocket"]
