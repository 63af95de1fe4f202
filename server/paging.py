"""Paging headers for the lists: ``X-Total-Count`` and ``Link`` next/prev, beside the
``data`` array, which stays the page itself.

Each list statement carries ``count(*) OVER ()`` as ``total_count``: the number of rows
that match, before ``OFFSET``/``LIMIT``, read in the same statement (so it agrees with the
page). A page past the end has no row to carry it, so ``total`` asks again for the first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel

from .envelope import ok

TOTAL = "total_count"
# What a browser's script may read of a cross-origin answer (server/cors.py).
EXPOSED = ("X-Total-Count", "Link")


async def total(
    rows: Sequence[Mapping[str, Any]], skip: int, first: Callable[[], Awaitable[Sequence[Any]]]
) -> int:
    """How many match in all: from the page's rows, or (a page past the end) from the
    first page, which ``first`` reads."""
    if rows:
        return int(rows[0][TOTAL])
    if skip == 0:
        return 0
    again = await first()
    return int(again[0][TOTAL]) if again else 0


Q = Any  # a validated query with skip and limit (PageQuery, BookingQuery, AuditQuery...)


async def listed(
    request: web.Request,
    query: Q,
    read: Callable[[Q], Awaitable[Sequence[Mapping[str, Any]]]],
    model: type[BaseModel],
) -> web.Response:
    """One page of a list: ``read(query)``'s rows as ``model``s, with the paging headers."""
    rows = await read(query)
    first = query.model_copy(update={"skip": 0, "limit": 1})
    count = await total(rows, query.skip, lambda: read(first))
    data = [model.model_validate(r) for r in rows]
    return ok(data, headers=headers(request.path, query, count))


def headers(path: str, query: BaseModel, count: int) -> dict[str, str]:
    """``X-Total-Count``, and ``Link`` to the next and previous pages: relative URLs (so
    they hold behind a proxy) built from the validated query, the same for every spelling
    of one request (the browse cache keeps them with the body)."""
    skip: int = query.skip  # type: ignore[attr-defined]
    limit: int = query.limit  # type: ignore[attr-defined]
    params = query.model_dump(mode="json", exclude_defaults=True, exclude={"skip", "limit"})

    def page(start: int) -> str:
        return f"{path}?{urlencode({**params, 'skip': start, 'limit': limit})}"

    links = []
    if skip + limit < count:
        links.append(f'<{page(skip + limit)}>; rel="next"')
    if skip > 0:
        links.append(f'<{page(max(0, min(skip, count) - limit))}>; rel="prev"')
    found = {"X-Total-Count": str(count)}
    if links:
        found["Link"] = ", ".join(links)
    return found
