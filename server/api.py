"""The ``endpoint`` decorator: one declaration per handler of who may call it, what it
takes and what it returns.

The same declaration enforces roles and validates input at run time and describes the
route in the OpenAPI document, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from common.models import MAX_ID, ROLES, STAFF_ROLES, Role

from . import idempotency
from .api_tokens import is_api_token
from .clients import client_address
from .envelope import ApiError, Forbidden, Invalid, Unauthorized
from .keys import ACCOUNTS, API_TOKENS, IDEMPOTENCY, TOKENS
from .security import Principal

# The roles of common.models, by the names endpoint specs use.
ANY_ROLE = ROLES
STAFF = STAFF_ROLES
ADMIN: frozenset[Role] = frozenset({"admin"})


@dataclass(frozen=True)
class Spec:
    summary: str
    tag: str
    roles: frozenset[Role] | None = None  # None: no token needed
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None  # a model, list[model], or None
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""
    websocket: bool = False  # authenticates itself: close code 4401, not an HTTP 401
    # Open to everyone; a caller who sends a token is identified (``viewer``), a bad one 401.
    viewer: bool = False
    messages: tuple[type[BaseModel], ...] = field(default=())  # a websocket's messages


Handler = Callable[..., Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


def endpoint(**spec: Any) -> Callable[[Handler], Handler]:
    """Wrap ``handler(request, *, user=, body=, query=)`` with auth and validation.

    The handler receives only what its Spec asks for: ``user`` when roles are set,
    ``viewer`` (the caller or None) with ``viewer``, ``body`` and ``query`` as validated
    models. A logged-in caller's change with an
    ``Idempotency-Key`` runs at most once per key (see ``idempotency.py``).
    """
    s = Spec(**spec)

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        async def handler(request: web.Request) -> web.StreamResponse:
            kwargs: dict[str, Any] = {}
            key = None
            if s.roles is not None and not s.websocket:
                kwargs["user"] = await authorize(request, s.roles)
                key = idempotency.requested_key(request)
            elif s.viewer:
                kwargs["viewer"] = await viewer(request)
            if s.query is not None:
                kwargs["query"] = _validate(s.query, dict(request.query))
            if s.body is not None:
                kwargs["body"] = _validate(s.body, await read_json(request))
            if key is not None:
                return await request.app[IDEMPOTENCY].run(
                    kwargs["user"],
                    key,
                    await idempotency.fingerprint(request),
                    functools.partial(fn, request, **kwargs),
                )
            return await fn(request, **kwargs)

        handler.spec = s  # type: ignore[attr-defined]
        return handler

    return wrap


async def authorize(request: web.Request, roles: frozenset[Role]) -> Principal:
    """The caller, by an access token (JWT) or an integration API token (``bo_...``)."""
    who, _ = await identify(request, bearer_token(request))
    if who.role not in roles:
        raise Forbidden(f"This needs the role {' or '.join(sorted(roles))}")
    return dataclasses.replace(who, source=client_address(request))


async def viewer(request: web.Request) -> Principal | None:
    """Who calls an open route: None without an Authorization header, else its principal
    (a bad or expired token is a 401, as anywhere: it is not silently anonymous)."""
    if "Authorization" not in request.headers:
        return None
    return await authorize(request, ANY_ROLE)


def bearer_token(request: web.Request, *, query: bool = False) -> str:
    """The token of an ``Authorization: Bearer`` header; with ``query``, failing that, the
    ``token`` query parameter (for clients that cannot set headers). 401 when neither."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if not token and query:
        token = request.query.get("token", "").strip()
    if not token:
        where = " (Authorization header or token parameter)" if query else ""
        raise Unauthorized(f"Missing bearer token{where}")
    return token


async def identify(request: web.Request, token: str) -> tuple[Principal, float | None]:
    """Who a bearer token stands for, and the Unix time it expires: an access token's
    ``exp``, or None for an API token, which lasts until it is revoked. 401 otherwise, and
    for an access token whose account was disabled, changed role or had its sessions ended
    since (see ``accounts.py``)."""
    if is_api_token(token):
        return await request.app[API_TOKENS].verify(token), None
    who, expires_at = request.app[TOKENS].verify_with_expiry(token)
    await request.app[ACCOUNTS].check(who)
    return who, expires_at


# No field takes a number of more than 19 digits; past this many a number is refused as
# unusable JSON rather than converted (Python refuses past 4,300 digits with a ValueError).
MAX_JSON_DIGITS = 100


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_DIGITS:
        raise ValueError(f"a number of more than {MAX_JSON_DIGITS} digits")
    return int(text)


async def read_json(request: web.Request) -> Any:
    raw = await request.read()  # raises 413 past client_max_size
    if not raw.strip():
        raise ApiError("Request body must be a JSON object", data=_body_error("required"))
    try:
        return json.loads(raw, parse_int=_parse_int)
    except (ValueError, RecursionError) as exc:  # JSON and UTF-8 decoding errors included
        raise ApiError(
            "Malformed JSON in request body", data=_body_error(f"malformed JSON: {exc}")
        ) from None


def _body_error(message: str) -> dict[str, Any]:
    return {"errors": [{"field": "body", "message": message}]}


def _validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid.from_pydantic(exc) from None


def path_id(request: web.Request, name: str) -> int:
    """An integer id from the URL path, or a 422 that names it."""
    raw = request.match_info[name]
    # The length first: Python refuses to convert more than 4,300 digits (a ValueError).
    digits_ok = raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_ID))
    if not digits_ok or not 1 <= int(raw) <= MAX_ID:
        raise Invalid.field(name, f"must be a positive whole number, not {raw[:40]!r}")
    return int(raw)
