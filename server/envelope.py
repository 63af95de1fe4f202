"""The response envelope, API errors, and the middleware that turns every failure into one.

Every response, success or error, is ``{"code", "message", "status", "data"}`` and its
HTTP status equals ``code``.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

import psycopg2
from aiohttp import web
from pydantic import BaseModel, ValidationError

from . import logs
from .clients import client_address

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID = web.RequestKey("request_id", str)
# A client's X-Request-ID is echoed and written to every log line of its request: only a
# short id of safe characters is taken as it is; anything else gets a fresh id.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# The longest request target (path and query) and header (name and value) served; longer
# ones are refused in an envelope that names them (414, 431).
MAX_URL_BYTES = 8190
MAX_HEADER_BYTES = 8190
# aiohttp's parser refuses longer lines in plain text, before any middleware runs, so its
# own limits (Application handler_args) are set above ours: up to these, every refusal is
# an envelope. Headers stay tighter, as up to 128 of them are buffered per request.
PARSER_LIMITS = {"max_line_size": 64 * 1024, "max_field_size": 16 * 1024}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def ok(
    data: Any = None,
    *,
    code: int = 200,
    message: str = "Success",
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = _success(data, code, message)
    return web.json_response(body, status=code, dumps=dumps, headers=headers)


def ok_body(data: Any) -> bytes:
    """The body ``ok(data)`` sends, as bytes: what the browse cache keeps."""
    return dumps(_success(data, 200, "Success")).encode()


def _success(data: Any, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": "success", "data": data}


def error_response(
    code: int, message: str, data: Any = None, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"code": code, "message": message, "status": "error", "data": data}
    return web.json_response(body, status=code, dumps=dumps, headers=headers)


class ApiError(Exception):
    """An error the client can act on; rendered as an error envelope."""

    code = 400

    def __init__(
        self,
        message: str,
        *,
        data: Any = None,
        headers: dict[str, str] | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.data = data
        self.headers = headers
        if code is not None:
            self.code = code

    def with_data(self, **extra: Any) -> Self:
        """The error with ``extra`` beside its data (the ids a client needs to act)."""
        self.data = {**(self.data or {}), **extra}
        return self


class Unauthorized(ApiError):
    code = 401

    def __init__(self, message: str = "Not authenticated") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    code = 403

    @classmethod
    def fields(cls, errors: Iterable[tuple[str, str]]) -> Forbidden:
        """Fields the caller may not set, named in ``data.errors`` as a 422 names them."""
        listed = [{"field": f, "message": m} for f, m in errors]
        first = listed[0]
        return cls(f"{first['field']}: {first['message']}", data={"errors": listed})


class NotFound(ApiError):
    code = 404


class Conflict(ApiError):
    code = 409


class TooManyRequests(ApiError):
    code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(
            message,
            data={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(ApiError):
    """503: too busy to take this now (the work queue is full); retry after a moment."""

    code = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(
            message,
            data={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class Invalid(ApiError):
    """422 with ``data.errors = [{"field", "message"}]``."""

    code = 422

    def __init__(
        self, errors: Iterable[tuple[str, str]], message: str = "Validation failed"
    ) -> None:
        super().__init__(message, data={"errors": [{"field": f, "message": m} for f, m in errors]})

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls([(field, message)], message=f"{field}: {message}")

    @classmethod
    def from_pydantic(cls, exc: ValidationError) -> Invalid:
        errors = []
        for err in exc.errors(include_url=False):
            field = ".".join(str(p) for p in err["loc"]) or "body"
            message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            errors.append((field, message))
        return cls(errors, message=f"{errors[0][0]}: {errors[0][1]}")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Render ApiErrors and aiohttp's HTTP errors as envelopes; log anything else as a 500."""
    request_id = request_id_of(request)
    request[REQUEST_ID] = request_id
    # Every line logged while handling this request (and its access log line) carries the
    # id and the client. aiohttp runs each request in a task of its own, so they end with it.
    logs.request_started(request_id, request.method, request.path, client_address(request))
    try:
        _check_lengths(request)
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.code, exc.message, exc.data, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _HTTP_MESSAGES.get(exc.status, exc.reason)
        headers = {k: v for k, v in exc.headers.items() if k in _KEPT_HEADERS}
        response = error_response(exc.status, message, None, headers)
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        if connection_lost(exc):
            log.warning("database unavailable in %s %s: %s", request.method, request.path, exc)
            response = error_response(
                503,
                "Database unavailable; retry shortly (with the same Idempotency-Key)",
                {"request_id": request_id},
                {"Retry-After": "1"},
            )
        else:
            response = _internal_error(request, request_id)
    except Exception:
        response = _internal_error(request, request_id)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def request_id_of(request: web.Request) -> str:
    """The client's X-Request-ID when it is a safe id, else a new one (never the raw value:
    it would reach the logs and the response as sent)."""
    sent = request.headers.get(REQUEST_ID_HEADER, "")
    return sent if _SAFE_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex


def _check_lengths(request: web.Request) -> None:
    """414 for a request target past MAX_URL_BYTES, 431 for a header past MAX_HEADER_BYTES."""
    if len(request.raw_path) > MAX_URL_BYTES:
        path, _, query = request.raw_path.partition("?")
        field = "path" if len(path) > len(query) else "query"
        message = f"the URL is {len(request.raw_path)} bytes long; at most {MAX_URL_BYTES}"
        raise ApiError("URI too long", code=414, data=_field_errors(field, message))
    for name, value in request.raw_headers:
        if len(name) + len(value) > MAX_HEADER_BYTES:
            header = name.decode("latin-1")[:64]
            message = f"the header is {len(name) + len(value)} bytes; at most {MAX_HEADER_BYTES}"
            raise ApiError(
                "Request header too large", code=431, data=_field_errors(header, message)
            )


def _field_errors(field: str, message: str) -> dict[str, Any]:
    return {"errors": [{"field": field, "message": message}]}


def connection_lost(exc: psycopg2.Error) -> bool:
    """The database is unreachable or going down, rather than refusing this statement (a
    deadlock or a cancelled query is a real 500)."""
    code = getattr(exc, "pgcode", None)
    # No SQLSTATE: no connection at all. 08: connection exception. 57P0x: shutting down.
    return code is None or code.startswith("08") or code in {"57P01", "57P02", "57P03"}


def _internal_error(request: web.Request, request_id: str) -> web.Response:
    log.exception(
        "unhandled error in %s %s (request id %s)", request.method, request.path, request_id
    )
    return error_response(500, "Internal server error", {"request_id": request_id})


_KEPT_HEADERS = {"Allow", "Retry-After", "WWW-Authenticate"}
_HTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "Request body too large",
}
