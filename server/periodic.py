"""Background jobs that run every few seconds for as long as the app runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def every(
    seconds: float, job: Callable[[], Awaitable[object]], name: str
) -> AsyncIterator[None]:
    """Run ``job`` every ``seconds`` while the block is open. A failure (the database is
    away, say) is logged and the job runs again next time. On leaving, a run in progress is
    allowed to finish: cancelling an aiopg query can strand its connection."""
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            try:
                await job()
            except Exception:
                log.warning("%s failed", name, exc_info=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await stop.wait()

    task = asyncio.create_task(loop(), name=name)
    try:
        yield
    finally:
        stop.set()
        try:
            async with asyncio.timeout(10):
                await task
        except TimeoutError:
            task.cancel()
