"""A real headless Chromium driven over the DevTools protocol (CDP), for the docs pages.

No Playwright or Selenium (they download browser builds of their own): the Debian package's
Chromium, started with ``--remote-debugging-port=0``, and a websocket to it. ``CHROMIUM`` is
None where none is installed; tests that need it skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-extensions",
    "--no-first-run",
    "--remote-debugging-port=0",
)


class Page:
    """One tab: navigate, evaluate JavaScript, and every URL it asked for."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, session: str) -> None:
        self.ws = ws
        self.session = session
        self.requested: list[str] = []
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._loaded = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._waiting:
                self._waiting.pop(data["id"]).set_result(data)
            elif data.get("method") == "Network.requestWillBeSent":
                self.requested.append(data["params"]["request"]["url"])
            elif data.get("method") == "Page.loadEventFired":
                self._loaded.set()

    async def send(self, method: str, session: bool = True, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        await self.ws.send_json(message)
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def goto(self, url: str) -> None:
        self._loaded.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(self._loaded.wait(), 30)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited)."""
        reply = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in reply:
            raise RuntimeError(reply["exceptionDetails"])
        return reply["result"].get("value")

    async def wait_for(self, condition: str, timeout_ms: int = 20000) -> Any:
        """The expression's value (``True`` for an element) once it is truthy, checked on
        every DOM change in the page (a MutationObserver); fails after ``timeout_ms``."""
        return await self.evaluate(
            f"""new Promise((resolve, reject) => {{
                const check = () => {{
                    try {{ const v = ({condition}); return v && typeof v === "object" || v; }}
                    catch (e) {{ return null; }}
                }};
                const now = check();
                if (now) return resolve(now);
                const observer = new MutationObserver(() => {{
                    const value = check();
                    if (value) {{ observer.disconnect(); clearTimeout(timer); resolve(value); }}
                }});
                observer.observe(document, {{subtree: true, childList: true, attributes: true,
                                             characterData: true}});
                const timer = setTimeout(() => {{ observer.disconnect();
                    reject(new Error("timed out waiting for: " + {json.dumps(condition)})); }},
                    {timeout_ms});
            }})"""
        )


@contextlib.asynccontextmanager
async def browser_page() -> AsyncIterator[Page]:
    """A fresh headless Chromium with one blank tab, closed afterwards."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="boxoffice-chromium-") as profile:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            url = None
            async with asyncio.timeout(30):
                while url is None:
                    line = (await proc.stderr.readline()).decode()
                    if not line:
                        raise RuntimeError("chromium exited before it listened")
                    found = re.search(r"DevTools listening on (ws://\S+)", line)
                    url = found.group(1) if found else None
            async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
                page = await _open_tab(ws)
                try:
                    yield page
                finally:
                    page._reader.cancel()
        finally:
            if proc.returncode is None:
                proc.terminate()
            await proc.wait()


async def _open_tab(ws: aiohttp.ClientWebSocketResponse) -> Page:
    page = Page(ws, "")
    target = await page.send("Target.createTarget", session=False, url="about:blank")
    attached = await page.send(
        "Target.attachToTarget", session=False, targetId=target["targetId"], flatten=True
    )
    page.session = attached["sessionId"]
    await page.send("Page.enable")
    await page.send("Network.enable")
    await page.send("Runtime.enable")
    return page
