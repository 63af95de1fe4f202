"""Ready-to-send answers of the browse paths (``GET /events``, ``/events/available``,
``/events/{id}``, ``/events/{id}/seats``), kept fresh by the changes the LISTEN connection
hears. A browse that finds its answer here costs no database round trip and no
serialisation; docs/performance.md#browsing.

Correctness, in the order it matters:
- **Your own change.** Every write path of this instance calls ``changed`` (or
  ``changed_all``) after its commit and before it answers, so a client reading back on the
  same instance sees its change.
- **Other instances' changes** arrive as notifications (``notified``), within the NOTIFY
  delay: every change to an event bumps its row (migrations/0011), and a change to its
  ticket types is told on ``BROWSE_CHANNEL``.
- **A lost LISTEN connection** (``lost``) drops everything and serves straight from the
  database until the listener is back and hears changes again (``listening``).
- **A read racing a change.** Each fill notes the tick it started at; the answer is kept
  only if nothing it shows changed since (``_fresh``), so a read begun before a change never
  stores the body from before it.

Only what is the same for every caller is kept under a shared key: an event's detail
(with its ticket types) is kept apart for staff and for everyone else.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

# Told (at commit) when an event's ticket types change: they are in its detail, but a
# change to them does not touch the event's row. The payload is the event's id.
BROWSE_CHANNEL = "boxoffice_browse"

# Kinds of entry; a list whose rows depend on seats left and on the time.
LIST, AVAILABLE, EVENT, SEATS = "list", "available", "event", "seats"

# At most this many answers are kept (lists are kept per query: a client can make many).
MAX_ENTRIES = 4096

JSON = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Filled:
    """What a fill read: the answer's body, the events it shows, and when it goes stale by
    itself (an upcoming event starting: wall-clock seconds), if ever."""

    body: bytes
    events: frozenset[int]
    expires: float | None = None
    headers: tuple[tuple[str, str], ...] = ()  # sent with the body (a list's paging)


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str
    body: bytes
    etag: str  # quoted, as sent: a digest of the body, so every instance agrees
    events: frozenset[int]
    expires: float | None
    headers: tuple[tuple[str, str], ...]

    def response(self, request: web.Request) -> web.Response:
        """The answer, or 304 when the caller already has this body (If-None-Match)."""
        if "If-None-Match" in request.headers and _matches(request, self.etag):
            return web.Response(status=304, headers={"ETag": self.etag, **dict(self.headers)})
        headers = {"Content-Type": JSON, "ETag": self.etag, **dict(self.headers)}
        return web.Response(body=self.body, headers=headers)


def _matches(request: web.Request, etag: str) -> bool:
    value = etag.strip('"')
    return any(tag.value in (value, "*") for tag in request.if_none_match or ())


def entry(kind: str, filled: Filled) -> Entry:
    # The headers count: a list's total can change while its page does not.
    hashed = hashlib.blake2b(filled.body, digest_size=12)
    hashed.update(repr(filled.headers).encode())
    digest = hashed.hexdigest()
    return Entry(kind, filled.body, f'"{digest}"', filled.events, filled.expires, filled.headers)


def expiry(dates: Iterable[datetime]) -> float | None:
    """When the earliest of ``dates`` starts (an upcoming list loses it then), or None."""
    return min((d.timestamp() for d in dates), default=None)


class BrowseCache:
    """This instance's browse answers by key, and when each event last changed."""

    def __init__(self, *, enabled: bool = True, max_entries: int = MAX_ENTRIES) -> None:
        self.enabled = enabled  # BOXOFFICE_BROWSE_CACHE=false: always the database
        self.max_entries = max_entries
        self.listening = False  # only while changes are heard is anything kept
        self._entries: dict[Hashable, Entry] = {}
        self._by_event: dict[int, set[Hashable]] = {}
        self._by_kind: dict[str, set[Hashable]] = {LIST: set(), AVAILABLE: set()}
        # A tick goes up with every change; each records the tick it happened at.
        self._tick = 0
        self._event_changed: dict[int, int] = {}
        self._lists_changed = 0  # every list (an event made, moved, renamed or deleted)
        self._available_changed = 0  # lists of events with seats (seats left changed)
        self._floor = 0  # nothing read before this tick is kept (the listener came back)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    async def answer(
        self,
        request: web.Request,
        key: Hashable,
        kind: str,
        fill: Callable[[], Awaitable[Filled]],
    ) -> web.Response:
        """The kept answer for ``key``, or a fresh one from ``fill`` (kept if still current)."""
        found = self._get(key)
        if found is None:
            self.misses += 1
            started = self._tick
            found = entry(kind, await fill())
            if self._fresh(found, started):
                self._put(key, found)
        else:
            self.hits += 1
        return found.response(request)

    def _get(self, key: Hashable) -> Entry | None:
        found = self._entries.get(key)
        if found is not None and found.expires is not None and time.time() >= found.expires:
            self._drop(key)
            return None
        return found

    def _fresh(self, found: Entry, started: int) -> bool:
        """Nothing the answer shows changed since its read began (and changes are heard)."""
        if not (self.enabled and self.listening) or started < self._floor:
            return False
        if found.kind in (LIST, AVAILABLE) and self._lists_changed > started:
            return False
        if found.kind == AVAILABLE and self._available_changed > started:
            return False
        changed = self._event_changed
        return all(changed.get(event_id, 0) <= started for event_id in found.events)

    def _put(self, key: Hashable, found: Entry) -> None:
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))  # the oldest kept
        self._entries[key] = found
        if found.kind in self._by_kind:
            self._by_kind[found.kind].add(key)
        for event_id in found.events:
            self._by_event.setdefault(event_id, set()).add(key)

    def _drop(self, key: Hashable) -> None:
        found = self._entries.pop(key, None)
        if found is None:
            return
        self._by_kind.get(found.kind, set()).discard(key)
        for event_id in found.events:
            keys = self._by_event.get(event_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_event[event_id]

    # --- changes -------------------------------------------------------------------

    def changed(self, event_id: int, *, moved: bool) -> None:
        """Event ``event_id`` changed. ``moved``: it may now be in lists it was not in (or
        out of them): made, deleted, renamed, re-dated. Otherwise only what the answers
        that show it say changed (seats, check-ins, ticket types), except that it may
        enter or leave the lists of events with seats left."""
        self._tick += 1
        self._event_changed[event_id] = self._tick
        self._available_changed = self._tick
        if moved:
            self._lists_changed = self._tick
        dropped = [*self._by_event.get(event_id, ()), *self._by_kind[AVAILABLE]]
        if moved:
            dropped.extend(self._by_kind[LIST])
        for key in dropped:
            self._drop(key)

    def changed_all(self) -> None:
        """Anything may have changed (a venue's plan edit drops seats of its events)."""
        self._tick += 1
        self._floor = self._tick
        self._event_changed.clear()  # the floor covers them
        self._entries.clear()
        self._by_event.clear()
        for keys in self._by_kind.values():
            keys.clear()

    def notified(self, change: dict[str, Any]) -> None:
        """An event's notification, read (migrations/0011: ``{"type", "id", ...}``)."""
        self.changed(int(change["id"]), moved=change.get("type") != "seats")

    def types_notified(self, payload: str) -> None:
        """An event's ticket types changed (``BROWSE_CHANNEL``)."""
        self.changed(int(payload), moved=False)

    def lost(self) -> None:
        """The LISTEN connection dropped: changes may go unheard, so nothing is kept or
        served from here until it is back."""
        self.listening = False
        self.changed_all()

    def resumed(self) -> None:
        """The LISTEN connection hears changes again: what is read from now on is kept."""
        self.changed_all()
        self.listening = True
