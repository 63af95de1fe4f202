"""`boxoffice serve --workers N`: several processes on one port, stopped gracefully."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from server_process import (
    ADMIN,
    PASSWORD,
    ServerProcess,
    login,
    make_event,
    register,
    request,
    rows,
)

pytestmark = pytest.mark.skipif(
    not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to see whose connection"
)


@pytest.fixture
def server(scratch_dsn, tmp_path):
    proc = ServerProcess(scratch_dsn, tmp_path, workers=2)
    yield proc
    proc.close()


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def connections_per_process(server: ServerProcess) -> Counter[int]:
    """How many established connections to the server's port each child process holds."""
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if int(local.split(":")[1], 16) == server.port and state == "01":
            established.add(inode)
    return Counter({pid: len(_socket_inodes(pid) & established) for pid in server.children()})


async def test_two_workers_share_the_port_and_stop_gracefully(server, scratch_dsn):
    """Both workers answer on one port; bookings work; SIGTERM closes websockets with 1001
    and the command exits 0 promptly."""
    server.add_admin()
    server.start()
    await server.wait_ready()
    assert server.listeners() == 2

    # Many connections at once: the kernel spreads them over both workers. A worker binds
    # the port only after its startup, so keep connecting until both hold some.
    sessions: list[aiohttp.ClientSession] = []
    try:
        async with asyncio.timeout(20):
            while True:
                for _ in range(16):
                    sessions.append(http := aiohttp.ClientSession())
                    status, _, _ = await request(http, "GET", server.url + "/")
                    assert status == 200
                per_process = connections_per_process(server)
                assert sum(per_process.values()) == len(sessions), per_process
                if len([pid for pid, n in per_process.items() if n]) == 2:
                    break
    finally:
        for http in sessions:
            await http.close()

    async with aiohttp.ClientSession() as http:
        admin = await login(http, server.url, ADMIN, PASSWORD)
        event = await make_event(http, server.url, admin, seats=10)
        fan = await register(http, server.url, "fan1")
        status, body, _ = await request(
            http,
            "POST",
            server.url + "/api/v1/bookings",
            fan,
            json={"event_id": event, "quantity": 3},
        )
        assert status == 201, body
        assert rows(
            scratch_dsn, "SELECT quantity, status FROM bookings WHERE id = %s", body["data"]["id"]
        )
        assert rows(scratch_dsn, "SELECT available_seats FROM events WHERE id = %s", event) == [
            (7,)
        ]

        # `boxoffice serve` answers an over-long URL in the envelope too (not aiohttp's text).
        long_url = server.url + "/api/v1/events?search=" + "x" * 9_000
        status, body, _ = await request(http, "GET", long_url)
        assert (status, body["code"], body["data"]["errors"][0]["field"]) == (414, 414, "query")

        # Websockets on whichever workers they landed: each is told the server is going.
        sockets = [
            await http.ws_connect(
                server.url + "/api/v1/ws", headers={"Authorization": f"Bearer {fan}"}
            )
            for _ in range(6)
        ]
        for ws in sockets:
            hello = await ws.receive_json(timeout=10)
            assert hello["type"] == "hello", hello

        started = time.monotonic()
        server.signal(signal.SIGTERM)
        for ws in sockets:
            msg = await ws.receive(timeout=10)
            assert msg.type == aiohttp.WSMsgType.CLOSE, msg
            assert msg.data == 1001, msg  # going away
        assert await server.wait_exit(within=15) == 0, server.log()
        assert time.monotonic() - started < 10
    assert "Traceback" not in server.log(), server.log()
    assert server.listeners() == 0


async def test_a_worker_that_dies_stops_the_service(server):
    """A worker killed from outside: the others stop and the command exits 1, so that a
    supervisor restarts the whole service."""
    server.start()
    await server.wait_ready()
    workers = server.workers_pids()
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    assert await server.wait_exit(within=15) == 1, server.log()
    assert all(_gone(pid) for pid in workers[1:])


def _gone(pid: int) -> bool:
    """The process has exited (it may linger as a zombie until reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


def test_workers_setting():
    """BOXOFFICE_WORKERS sets the number of processes; the flag overrides it; 0 is refused."""
    from server.config import Config, ConfigError

    assert Config.from_env({}).workers == 1
    assert Config.from_env({"BOXOFFICE_WORKERS": "3"}).workers == 3
    assert Config.from_env({"BOXOFFICE_WORKERS": "3"}, workers=2).workers == 2
    with pytest.raises(ConfigError, match="BOXOFFICE_WORKERS"):
        Config.from_env({"BOXOFFICE_WORKERS": "0"})


async def test_workers_log_in_the_configured_format_with_tokens_redacted(scratch_dsn, tmp_path):
    """`--workers` logs as BOXOFFICE_LOG_FORMAT says (JSON lines naming their worker), and a
    ?token= in a logged URL is redacted there too."""
    # Every request logged (by default only failed and slow ones are).
    server = ServerProcess(
        scratch_dsn, tmp_path, workers=2, BOXOFFICE_LOG_FORMAT="json", BOXOFFICE_ACCESS_LOG="full"
    )
    try:
        server.start()
        await server.wait_ready()
        async with aiohttp.ClientSession() as http:
            status, _, _ = await request(http, "GET", server.url + "/?token=s3cret-value")
            assert status == 200
        server.signal(signal.SIGTERM)
        assert await server.wait_exit(within=15) == 0, server.log()
    finally:
        server.close()
    lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "aiohttp.access"]
    assert access and all(line["worker"] in (0, 1) for line in access), server.log()
    assert "s3cret-value" not in server.log()
