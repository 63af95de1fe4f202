"""A real `boxoffice serve` process on a scratch database of its own, for the tests that
need to signal or kill the server (tests/test_workers.py, tests/test_crash.py), and plain
aiohttp requests to it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

import aiohttp
from support import rows

BOXOFFICE = str(Path(sys.executable).parent / "boxoffice")
ADMIN = "crashadmin"
PASSWORD = "a long enough password"
START_DEADLINE = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`boxoffice serve` with the environment of a test; start, stop and kill it."""

    def __init__(self, dsn: str, log_dir: Path, *, workers: int = 1, **env: str) -> None:
        self.dsn = dsn
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.log_dir = log_dir
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")},
            "BOXOFFICE_DATABASE_URL": dsn,
            "BOXOFFICE_JWT_SECRET": "proc-test-secret-" + "y" * 40,
            "BOXOFFICE_BCRYPT_ROUNDS": "4",
            "BOXOFFICE_PORT": str(self.port),
            # Tests register many accounts from one address, many at once.
            "BOXOFFICE_REGISTER_MAX_PER_ADDRESS": "100000",
            "BOXOFFICE_BCRYPT_QUEUE": "100000",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def add_admin(self) -> None:
        done = subprocess.run(
            [BOXOFFICE, "user", "add", ADMIN, "--role", "admin"],
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            env=self.env,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_dir / f"server-{self.starts}.log", "wb")  # noqa: SIM115
        args = [BOXOFFICE, "serve"]
        if self.workers != 1:
            args += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def log(self) -> str:
        return (self.log_dir / f"server-{self.starts}.log").read_text(errors="replace")

    async def wait_ready(self, listeners: int | None = None) -> None:
        """Until the server answers and every worker listens for changes: ``listeners``
        LISTEN connections on the database (default: this server's workers alone)."""
        expected = self.workers if listeners is None else listeners
        deadline = time.monotonic() + START_DEADLINE
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.log()
                try:
                    async with http.get(self.url + "/") as resp:
                        if resp.status == 200 and self.listeners() == expected:
                            return
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, f"the server did not start:\n{self.log()}"
                await asyncio.sleep(0.05)  # a poll interval, not synchronisation

    def listeners(self) -> int:
        """How many LISTEN connections (one per live server process) the database has."""
        return rows(
            self.dsn,
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'boxoffice-listen' AND datname = current_database()",
        )[0][0]

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    async def wait_exit(self, within: float) -> int:
        """The exit status, once the process has exited (at most ``within`` seconds)."""
        assert self.proc is not None
        return await asyncio.to_thread(self.proc.wait, within)

    def children(self) -> list[int]:
        assert self.proc is not None
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def workers_pids(self) -> list[int]:
        """The worker processes among the children (not multiprocessing's helper)."""
        return [
            pid
            for pid in self.children()
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        ]

    def close(self) -> None:
        """Whatever state the test left it in: make sure nothing keeps running."""
        if self.proc is None or self.proc.poll() is not None:
            return
        children: list[int] = []
        with suppress(OSError):
            children = self.children()
        self.proc.kill()
        self.proc.wait()
        for pid in children:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def request(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    **kwargs: Any,
) -> tuple[int, dict[str, Any], Any]:
    headers = dict(kwargs.pop("headers", {}))
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, headers=headers, **kwargs) as resp:
        return resp.status, await resp.json(), resp.headers


async def _auth(
    http: aiohttp.ClientSession, base: str, action: str, username: str, password: str, expect: int
) -> dict[str, Any]:
    """POST the credentials to /api/v1/auth/``action``; the reply, once it is ``expect``."""
    body = {"username": username, "password": password}
    status, reply, _ = await request(http, "POST", f"{base}/api/v1/auth/{action}", json=body)
    assert status == expect, reply
    return reply


async def login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    return (await _auth(http, base, "login", username, password, 200))["data"]["access_token"]


async def register(http: aiohttp.ClientSession, base: str, username: str) -> str:
    await _auth(http, base, "register", username, PASSWORD, 201)
    return await login(http, base, username, PASSWORD)


async def make_event(http: aiohttp.ClientSession, base: str, admin: str, seats: int) -> int:
    body = {
        "title": f"Event {uuid.uuid4().hex[:6]}",
        "date": "2099-01-01T20:00:00+00:00",
        "venue": "Process Hall",
        "total_seats": seats,
        "price": "10.00",
    }
    status, reply, _ = await request(http, "POST", base + "/api/v1/events", admin, json=body)
    assert status == 201, reply
    return reply["data"]["id"]
