"""The crash proof: SIGKILL the server in the middle of a booking storm, start it again,
and nothing that was answered 2xx is lost, nothing is done twice, and every event's seats
still add up (the seat ledger, checked after every test by the database fixtures).

Every booking carries an Idempotency-Key. Requests that got no answer (cut off by the
kill, or refused while the server was down) are retried with the same key once the server
is back, as a careful client would: each either replays the answer of work that did
commit, or does the work now. Afterwards the bookings the clients were told about are
exactly the bookings in the database.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

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

CLIENTS = 40
SEATS = (60, 200, 400)  # the first sells out during the storm: 409s are part of it
KILL_AFTER = 150  # answers before the kill


@dataclass
class Attempt:
    key: str
    token: str
    body: dict[str, Any]
    status: int | None = None  # None: no answer (cut off or refused)
    reply: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False


@pytest.fixture
def server(scratch_dsn, tmp_path):
    proc = ServerProcess(scratch_dsn, tmp_path, BOXOFFICE_POOL_MAX_SIZE="20")
    yield proc
    proc.close()


async def book(http: aiohttp.ClientSession, base: str, attempt: Attempt) -> None:
    status, reply, headers = await request(
        http,
        "POST",
        base + "/api/v1/bookings",
        attempt.token,
        json=attempt.body,
        headers={"Idempotency-Key": attempt.key},
        timeout=aiohttp.ClientTimeout(total=30),
    )
    attempt.status, attempt.reply = status, reply
    attempt.replayed = headers.get("Idempotent-Replayed") == "true"


async def test_sigkill_during_a_booking_storm_loses_and_duplicates_nothing(server, scratch_dsn):
    server.add_admin()
    server.start()
    await server.wait_ready()
    rng = random.Random(6)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        admin = await login(http, server.url, ADMIN, PASSWORD)
        events = [await make_event(http, server.url, admin, seats) for seats in SEATS]
        tag = uuid.uuid4().hex[:6]
        tokens = await asyncio.gather(
            *(register(http, server.url, f"fan{tag}{i}") for i in range(CLIENTS))
        )

        attempts: list[Attempt] = []
        answered = 0
        enough = asyncio.Event()

        async def client(token: str) -> None:
            nonlocal answered
            while True:
                body = {
                    "event_id": rng.choice(events),
                    "quantity": rng.randint(1, 4),
                    "hold": rng.random() < 0.3,
                }
                attempt = Attempt(str(uuid.uuid4()), token, body)
                attempts.append(attempt)
                try:
                    await book(http, server.url, attempt)
                except (TimeoutError, aiohttp.ClientError):
                    return  # the server is gone: this one's outcome is unknown
                assert attempt.status in (201, 409), attempt
                answered += 1
                if answered >= KILL_AFTER:
                    enough.set()

        storm = [asyncio.create_task(client(t)) for t in tokens]
        async with asyncio.timeout(30):
            await enough.wait()
        server.signal(signal.SIGKILL)
        killed_at = time.monotonic()
        async with asyncio.timeout(30):
            await asyncio.gather(*storm)
        assert await server.wait_exit(within=10) == -signal.SIGKILL

        unanswered = [a for a in attempts if a.status is None]
        assert unanswered, "the kill cut nothing off: it was not in the middle of the storm"
        first_answers = {a.key: a.reply["data"]["id"] for a in attempts if a.status == 201}

        # Back up on the same port, then the careful client's retries.
        server.start()
        await server.wait_ready()
        for attempt in unanswered:
            await book(http, server.url, attempt)
            assert attempt.status in (201, 409), attempt
        restarted_in = time.monotonic() - killed_at

    # Every 2xx answer (before the kill or on a retry) is a booking in the database,
    # with its event and quantity.
    told = {a.key: a for a in attempts if a.status == 201}
    assert len(told) >= 60
    for a in told.values():
        booking = a.reply["data"]
        stored = rows(
            scratch_dsn, "SELECT event_id, quantity FROM bookings WHERE id = %s", booking["id"]
        )
        assert stored == [(a.body["event_id"], a.body["quantity"])], a
    # A key answered before the kill was not retried: its booking id stands as told.
    for key, booking_id in first_answers.items():
        assert told[key].reply["data"]["id"] == booking_id

    # Nothing twice: one booking per key that got a 2xx, and no booking nobody was told of.
    told_ids = [a.reply["data"]["id"] for a in told.values()]
    assert len(told_ids) == len(set(told_ids))
    stored_ids = [r[0] for r in rows(scratch_dsn, "SELECT id FROM bookings")]
    assert sorted(stored_ids) == sorted(told_ids)

    # Every event's seats add up: scratch_dsn checks the seat ledger after the test.
    replayed = sum(a.replayed for a in unanswered)
    print(
        f"\n{len(attempts)} attempts, {len(told)} bookings, "
        f"{sum(a.status == 409 for a in attempts)} sold out, {len(unanswered)} cut off "
        f"({replayed} had committed: replayed), back in {restarted_in:.2f} s"
    )
