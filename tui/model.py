"""The events the terminal shows, kept current by the live feed.

Changes are applied by version (an older or repeated one is ignored) and handed to the
screens in batches, so a storm of sales redraws each changed row once per tick.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from common.models import Event, LiveEvent


@dataclass(frozen=True)
class Change:
    """One event before and after a batch of changes (None: did not exist / deleted)."""

    before: Event | None
    after: Event | None
    at: datetime


class Changes:
    """Changes merged per event, in the order events first changed: the first "before" and
    the last "after" of each. An event made and deleted within them leaves nothing. (The
    one place two changes to one event are merged.)"""

    def __init__(self) -> None:
        self._by_event: dict[int, Change] = {}

    def add(self, event_id: int, change: Change) -> None:
        earlier = self._by_event.pop(event_id, None)
        merged = change if earlier is None else Change(earlier.before, change.after, change.at)
        if merged.before is not None or merged.after is not None:
            self._by_event[event_id] = merged

    def take(self) -> list[Change]:
        """Every change so far, one per event; none are kept."""
        changes, self._by_event = list(self._by_event.values()), {}
        return changes

    def __bool__(self) -> bool:
        return bool(self._by_event)


def seats_sold(event: Event | None) -> int:
    return event.total_seats - event.available_seats if event else 0


@dataclass
class SalesMeter:
    """Seats sold over the last few minutes, in fixed buckets, for the dashboard."""

    bucket_seconds: float = 5.0
    size: int = 60
    _counts: deque[int] = field(default_factory=deque)
    _newest: int = 0  # the number of the newest bucket (time // bucket_seconds)

    def record(self, seats: int, now: float | None = None) -> None:
        self._advance(now)
        self._counts[-1] += seats

    def series(self, now: float | None = None) -> list[int]:
        """Seats sold in each bucket, oldest first, ending now."""
        self._advance(now)
        return list(self._counts)

    def seed(self, first_bucket: int, counts: list[int], now: float | None = None) -> None:
        """Sales the server counted, per bucket from bucket number ``first_bucket`` (epoch
        seconds // bucket_seconds): a meter started at login then shows the minutes before
        it. A bucket keeps the larger count, so a sale already seen live is not lost."""
        self._advance(now)
        oldest = self._newest - len(self._counts) + 1
        for number, count in enumerate(counts, start=first_bucket):
            if oldest <= number <= self._newest:
                index = number - oldest
                self._counts[index] = max(self._counts[index], count)

    def last_minute(self, now: float | None = None) -> int:
        per_minute = max(1, round(60 / self.bucket_seconds))
        return sum(self.series(now)[-per_minute:])

    def _advance(self, now: float | None) -> None:
        bucket = int((time.time() if now is None else now) // self.bucket_seconds)
        if not self._counts:
            self._counts.extend([0] * self.size)
        elif bucket > self._newest:
            self._counts.extend([0] * min(bucket - self._newest, self.size))
        while len(self._counts) > self.size:
            self._counts.popleft()
        self._newest = max(bucket, self._newest)


@dataclass
class EventStore:
    events: dict[int, Event] = field(default_factory=dict)
    sales: SalesMeter = field(default_factory=SalesMeter)
    _pending: Changes = field(default_factory=Changes)
    _deleted: dict[int, int] = field(default_factory=dict)  # event id -> version of deletion
    _changes: int = 0  # how many changes so far
    _touched: dict[int, int] = field(default_factory=dict)  # event id -> change number

    def mark(self) -> int:
        """Where the store is now: pass it to ``replace`` with a list fetched after."""
        return self._changes

    def load(self, events: list[Event]) -> None:
        for event in events:
            self._put(event.id, event)

    def replace(self, events: list[Event], since: int) -> None:
        """A fresh list, fetched after ``mark()`` returned ``since``: events missing from it
        were deleted meanwhile, unless the live feed brought them while it was fetched."""
        fresh = {event.id for event in events}
        for gone in [
            event_id
            for event_id in self.events
            if event_id not in fresh and self._touched.get(event_id, 0) <= since
        ]:
            self._put(gone, None)
        self.load(events)

    def apply(self, update: LiveEvent) -> None:
        current = self.events.get(update.event_id)
        if current is not None and update.version <= current.version:
            return  # stale or repeated
        if update.event is None:
            self._deleted[update.event_id] = update.version
        if current is not None and update.event is not None:
            sold = seats_sold(update.event) - seats_sold(current)
            if sold > 0:
                self.sales.record(sold)
        self._put(update.event_id, update.event)

    def _put(self, event_id: int, event: Event | None) -> None:
        before = self.events.get(event_id)
        if event is None:
            self.events.pop(event_id, None)
        else:
            if before is not None and event.version <= before.version:
                return
            if event.version < self._deleted.get(event_id, 0):
                return  # a list fetched before the event was deleted: it stays deleted
            self.events[event_id] = event
        self._changes += 1
        self._touched[event_id] = self._changes
        self._pending.add(event_id, Change(before, event, datetime.now(UTC)))

    def take_changes(self) -> list[Change]:
        """The changes since the last call, one per event."""
        return self._pending.take()
