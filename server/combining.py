"""Combining: the requests of one key (an event) that arrive while the key's statement runs
go together as its next statement.

A hot event's orders all queue on the event's row lock, one transaction and one commit
each: the event's rate is bounded by how fast one row can be locked and committed. Here
each key has at most one statement in flight per process; whatever arrives meanwhile waits
and then goes as one batch, in arrival order: one round trip, one lock acquisition, one
commit for all of them. Under a light load every batch is of one request and costs nothing
more; under a storm batches grow by themselves, as large as the load and ``max_batch``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
A = TypeVar("A")


class Combiner(Generic[K, R, A]):
    """``submit(key, request)`` answers what ``run(key, batch)`` answered for the request;
    ``run`` gets a batch of requests of one key and answers one answer each, in order. An
    exception of ``run`` is every request's of that batch."""

    def __init__(self, run: Callable[[K, list[R]], Awaitable[list[A]]], *, max_batch: int) -> None:
        self._run = run
        self._max_batch = max_batch
        self._waiting: dict[K, list[tuple[R, asyncio.Future[A]]]] = {}
        self._running: dict[K, asyncio.Task[None]] = {}

    @property
    def waiting(self) -> int:
        """Requests waiting for their key's statement in flight."""
        return sum(len(waiting) for waiting in self._waiting.values())

    async def submit(self, key: K, request: R) -> A:
        answer: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((request, answer))
        if key not in self._running:
            # A task of its own, not the first requester's: cancelling one request (its
            # client gone) must not strand the others waiting behind it.
            self._running[key] = asyncio.create_task(self._drain(key))
        return await answer

    async def _drain(self, key: K) -> None:
        try:
            while waiting := self._waiting.get(key):
                batch = [item for item in waiting[: self._max_batch] if not item[1].done()]
                del waiting[: self._max_batch]
                if batch:
                    await self._one(key, batch)
        finally:
            del self._running[key]
            # Empty unless this task was cancelled (the server stopping): none left waiting.
            for _, answer in self._waiting.pop(key, []):
                answer.cancel()

    async def _one(self, key: K, batch: list[tuple[R, asyncio.Future[A]]]) -> None:
        try:
            answers = await self._run(key, [request for request, _ in batch])
        except Exception as exc:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        except BaseException:
            for _, answer in batch:
                answer.cancel()
            raise
        for (_, answer), value in zip(batch, answers, strict=True):
            if not answer.done():
                answer.set_result(value)

    async def close(self) -> None:
        """Wait for the statements in flight (at shutdown, before the pool closes)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
