"""Run the server on a thread of its own, beside a foreground program (the demo's TUI).

The server keeps its own event loop, so the terminal's drawing never waits on a request.
Both still share one interpreter lock: this suits a demo. A busy server runs on its own
(``boxoffice serve``).
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType
from typing import Any

from aiohttp import web

from .config import ConfigError


class BackgroundServer:
    """``with BackgroundServer(app, host, port) as server: ...`` serves ``server.url``
    until the block ends; ``runner_options`` go to the ``AppRunner`` (the access log)."""

    def __init__(self, app: web.Application, host: str, port: int, **runner_options: Any) -> None:
        self.app, self.host, self.port = app, host, port
        self.runner_options = runner_options
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="boxoffice-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            if isinstance(self._error, OSError):
                raise ConfigError(
                    f"cannot listen on {self.host}:{self.port} ({self._error.strerror}); "
                    "choose another with --port"
                ) from self._error
            raise self._error
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the thread that waits in __enter__
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner = web.AppRunner(self.app, **self.runner_options)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            self.port = runner.addresses[0][1]  # the one chosen, when asked for port 0
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()
