"""Seat maps of seated events, as the server sends them and as clients keep them.

The compact form (``SeatStates``): seat ids as runs of consecutive ids, and one letter per
seat (f free, h held, s sold), each followed by its repeat count when it repeats. A plan's
seat ids come mostly in runs and sold or free seats in blocks, so a 10,000-seat arena's map
is a few KiB at most (a letter a seat when every seat differs from the next), often bytes.

``SeatMap`` is what a client keeps: a snapshot, then the live changes applied by version
(docs/live.md#seat-maps).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import get_args

from .models import LiveSeatChanges, SeatCounts, SeatState, SeatStates

STATES: tuple[SeatState, ...] = get_args(SeatState)
LETTER: dict[str, str] = {state: state[0] for state in STATES}
STATE_OF: dict[str, SeatState] = {state[0]: state for state in STATES}

_REPEATS = re.compile(r"([fhs])\1+")
_PACKED = re.compile(r"([fhs])(\d*)")


def runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Ascending ids as inclusive runs: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    out: list[tuple[int, int]] = []
    first = last = None
    for seat in ids:
        if last is not None and seat == last + 1:
            last = seat
            continue
        if first is not None and last is not None:
            out.append((first, last))
        first = last = seat
    if first is not None and last is not None:
        out.append((first, last))
    return out


def expand(seat_runs: Iterable[tuple[int, int]]) -> Iterator[int]:
    for first, last in seat_runs:
        yield from range(first, last + 1)


def pack(letters: str) -> str:
    """One letter per seat -> each letter with its repeat count: "fffsh" -> "f3sh"."""
    return _REPEATS.sub(lambda m: f"{m[1]}{len(m[0])}", letters)


def unpack(packed: str) -> str:
    """The inverse of ``pack``; a ValueError for anything but letters and counts."""
    if _PACKED.sub("", packed):
        raise ValueError("seat states are the letters f, h and s, each with an optional count")
    return _PACKED.sub(lambda m: m[1] * int(m[2] or 1), packed)


def counts(letters: str) -> SeatCounts:
    return SeatCounts(**{state: letters.count(LETTER[state]) for state in STATES})


class SeatMapGap(Exception):
    """Changes that start after the map's version: some were missed. The server never
    sends such; a client seeing one should subscribe to the event again."""


class SeatMap:
    """A seated event's seat states as a client knows them: a snapshot (``SeatStates``,
    from GET /events/{id}/seats or a live ``seat_map``), then live ``seat_changes``
    applied by version. ``version`` is the event's version the states are current at."""

    def __init__(self, snapshot: SeatStates) -> None:
        self.event_id = snapshot.event_id
        self._load(snapshot)

    def _load(self, snapshot: SeatStates) -> None:
        self.venue_id = snapshot.venue_id
        self.version = snapshot.version
        self.seat_ids = list(expand(snapshot.seat_ids))
        letters = unpack(snapshot.states)
        if len(letters) != len(self.seat_ids):
            raise ValueError(f"{len(letters)} seat states for {len(self.seat_ids)} seats")
        self._state: dict[int, SeatState] = {
            seat: STATE_OF[letter] for seat, letter in zip(self.seat_ids, letters, strict=True)
        }

    def apply(self, message: SeatStates | LiveSeatChanges) -> bool:
        """Apply a snapshot or changes of this event; False when it is older than what the
        map has (nothing changes). SeatMapGap when changes were missed."""
        if message.event_id != self.event_id:
            raise ValueError(f"a message of event {message.event_id}, not {self.event_id}")
        if isinstance(message, SeatStates):
            if message.version < self.version:
                return False
            self._load(message)
            return True
        if message.version <= self.version:
            return False
        if message.since > self.version:
            raise SeatMapGap(f"changes since version {message.since}; the map is at {self.version}")
        for state in STATES:
            for seat in expand(getattr(message, state)):
                if seat not in self._state:
                    raise ValueError(f"seat {seat} is not one of event {self.event_id}'s")
                self._state[seat] = state
        self.version = message.version
        return True

    def state(self, seat_id: int) -> SeatState:
        return self._state[seat_id]

    def states(self) -> dict[int, SeatState]:
        """Every seat's state, by seat id."""
        return dict(self._state)

    def counts(self) -> SeatCounts:
        return counts("".join(LETTER[self._state[seat]] for seat in self.seat_ids))
