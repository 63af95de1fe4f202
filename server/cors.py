"""Cross-origin requests from browsers: off unless ``BOXOFFICE_CORS_ORIGINS`` names origins.

A small middleware rather than ``aiohttp-cors``: that library adds an OPTIONS route to every
resource (which the OpenAPI document and the role tests would then list) and needs every
route registered with it, while the rules here are few: exact origins, bearer tokens and
no cookies, so never ``Access-Control-Allow-Credentials``.

With no origins configured the middleware is not installed at all, and no response has an
``Access-Control-*`` header. A request from an origin not on the list gets none either, so
the browser refuses it; the server itself answers it as usual.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from aiohttp import hdrs, web

from . import idempotency, paging
from .envelope import REQUEST_ID_HEADER, ok

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

MAX_AGE = 600  # seconds a browser may keep a preflight answer
ALLOW_HEADERS = ", ".join(
    [hdrs.AUTHORIZATION, hdrs.CONTENT_TYPE, idempotency.HEADER, REQUEST_ID_HEADER]
)
EXPOSE_HEADERS = ", ".join(
    [
        REQUEST_ID_HEADER,
        hdrs.RETRY_AFTER,
        hdrs.WWW_AUTHENTICATE,
        hdrs.CONTENT_DISPOSITION,
        idempotency.REPLAYED_HEADER,
        *paging.EXPOSED,
    ]
)


def cors_middlewares(origins: Iterable[str]) -> list[Middleware]:
    """The middleware for these exact origins, or none when there are none."""
    allowed = frozenset(origins)
    if not allowed:
        return []

    @web.middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is None or origin not in allowed:
            response = await handler(request)
            _vary(response)
            return response
        if request.method == hdrs.METH_OPTIONS and hdrs.ACCESS_CONTROL_REQUEST_METHOD in (
            request.headers
        ):
            preflight = _preflight(request, origin)
            if preflight is not None:
                return preflight
        try:
            response = await handler(request)
        except web.HTTPException as exc:  # a redirect the error middleware let through
            _allow(exc, origin)
            raise
        if not response.prepared:  # a websocket has sent its headers already
            _allow(response, origin)
        return response

    return [cors]


def _preflight(request: web.Request, origin: str) -> web.StreamResponse | None:
    """Answer the browser's OPTIONS question for a URL that exists; None for one that
    does not (its 404 then comes from the router, without CORS headers)."""
    missing = request.match_info.http_exception
    if isinstance(missing, web.HTTPMethodNotAllowed):
        methods = set(missing.allowed_methods)
    elif missing is None:
        methods = {request.method}
    else:
        return None
    asked = request.headers[hdrs.ACCESS_CONTROL_REQUEST_METHOD].upper()
    response = ok(None, message="CORS preflight")
    _vary(response)
    if asked not in methods:  # no Allow-Origin: the browser refuses the request
        return response
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ", ".join(sorted(methods))
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOW_HEADERS
    response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = str(MAX_AGE)
    return response


def _allow(response: web.StreamResponse | web.HTTPException, origin: str) -> None:
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSE_HEADERS
    _vary(response)


def _vary(response: web.StreamResponse | web.HTTPException) -> None:
    """Caches must not give one origin's answer to another."""
    if getattr(response, "prepared", False):
        return
    vary = response.headers.get(hdrs.VARY, "")
    if "origin" not in vary.lower():
        response.headers[hdrs.VARY] = f"{vary}, Origin" if vary else "Origin"
