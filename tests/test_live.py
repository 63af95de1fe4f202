"""Live seat updates over /api/v1/ws: real websockets, real servers, real PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import jwt
import psycopg2
import pytest
from support import Actors, call, cut_listeners

from server.app import create_app
from server.keys import HUB, LISTENER
from server.live import SUBSCRIBE_BURST, SUBSCRIBE_INTERVAL

WS = "/api/v1/ws"
Message = dict[str, Any]


async def receive(
    ws: aiohttp.ClientWebSocketResponse,
    until: Callable[[Message], bool] = lambda m: True,
    within: float = 5.0,
    seen: list[Message] | None = None,
) -> Message:
    """The next message matching ``until`` (others go to ``seen``), or fail after ``within``."""
    async with asyncio.timeout(within):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, f"connection ended: {msg}"
            data = msg.json()
            if until(data):
                return data
            if seen is not None:
                seen.append(data)


async def connect(client: Any, actor: Any) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect(WS, headers={"Authorization": f"Bearer {actor.token}"})
    hello = await receive(ws)
    assert hello["type"] == "hello" and hello["user"] == actor.username
    return ws


async def subscribe(ws: aiohttp.ClientWebSocketResponse, events: Any) -> list[Message]:
    """Subscribe and return the snapshots that follow the acknowledgement."""
    await ws.send_json({"type": "subscribe", "events": events})
    ack = await receive(ws)
    assert ack["type"] == "subscribed", ack
    count = len(events) - len(ack["missing"]) if events != "all" else None
    snapshots: list[Message] = []
    while count is None or len(snapshots) < count:
        try:
            snapshots.append(await receive(ws, within=0.5 if count is None else 5))
        except TimeoutError:
            break
    assert all(s["type"] == "snapshot" and s["reason"] == "subscribe" for s in snapshots)
    return snapshots


def seats(event_id: int, available: int) -> Callable[[Message], bool]:
    def match(m: Message) -> bool:
        return (
            m.get("event_id") == event_id
            and m.get("event") is not None
            and m["event"]["available_seats"] == available
        )

    return match


async def test_subscriber_sees_bookings_and_cancellations(client, user, clerk, make_event):
    """A subscribed client hears of another client's booking and its cancellation."""
    event = await make_event(total_seats=10)
    ws = await connect(client, user)
    [snap] = await subscribe(ws, [event["id"]])
    assert snap["event"]["available_seats"] == 10 and snap["version"] == event["version"]

    booked = await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 3})
    update = await receive(ws)
    assert update["type"] == "seats"
    assert update["event"]["available_seats"] == 7
    assert update["version"] == booked.data["event_version"] > snap["version"]

    await clerk.delete(f"/api/v1/bookings/{booked.data['id']}")
    update = await receive(ws)
    assert update["type"] == "seats" and update["event"]["available_seats"] == 10
    await ws.close()


async def test_a_booking_on_one_instance_reaches_a_subscriber_on_another(
    aiohttp_client, client, config, clerk, user, make_event
):
    """Two servers on one database: a booking through A is pushed to a websocket on B."""
    event = await make_event(total_seats=50)
    other = await aiohttp_client(create_app(config))
    ws = await connect(other, user)
    await subscribe(ws, [event["id"]])
    assert await call(client, "GET", "/")  # booking through the first instance
    await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 5})
    update = await receive(ws, seats(event["id"], 45))
    assert update["type"] == "seats"
    await ws.close()


async def test_after_a_burst_every_client_ends_on_the_final_state(
    client, actors, make_event, db_rows
):
    """Versions only go up, and each client's last message equals the database's state."""
    event = await make_event(total_seats=500, price="0.00")  # free: the buyers' are sales
    watchers = [await actors.new("user") for _ in range(3)]
    sockets = [await connect(client, w) for w in watchers]
    for ws in sockets:
        await subscribe(ws, [event["id"]])
    buyers = [await actors.new("user") for _ in range(10)]
    await asyncio.gather(
        *(
            b.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 2})
            for b in buyers
            for _ in range(8)
        )
    )
    [(available, version)] = db_rows(
        "SELECT available_seats, version FROM events WHERE id = %s", event["id"]
    )
    assert available == 500 - 160
    for ws in sockets:
        seen: list[Message] = []
        last = await receive(ws, lambda m: m["version"] == version, seen=seen)
        assert last["event"]["available_seats"] == available
        versions = [m["version"] for m in [*seen, last]]
        assert versions == sorted(set(versions)), "a stale or repeated version was sent"
        await ws.close()


async def test_lost_listen_connection_resyncs_subscribers(
    client, user, clerk, make_event, database_url
):
    """When the LISTEN connection is killed, subscribers get a fresh snapshot and later
    changes still arrive."""
    event = await make_event(total_seats=20)
    ws = await connect(client, user)
    await subscribe(ws, [event["id"]])
    listener = client.server.app[LISTENER]
    reconnects = listener.reconnects

    assert cut_listeners(database_url) == 1
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        # A change made straight in the database while the listener may be away (five
        # seats withdrawn: total and available alike, so the seat ledger still holds).
        cur.execute(
            "UPDATE events SET total_seats = 15, available_seats = 15, version = version + 1"
            " WHERE id = %s",
            (event["id"],),
        )
    conn.close()

    seen: list[Message] = []
    resync = await receive(ws, lambda m: m.get("reason") == "resync", within=10, seen=seen)
    assert resync["type"] == "snapshot"
    assert listener.reconnects == reconnects + 1
    # The change made meanwhile arrives, in the resync or in a message of its own.
    latest = max([*seen, resync], key=lambda m: m["version"])
    if latest["event"]["available_seats"] != 15:
        await receive(ws, seats(event["id"], 15))

    await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 4})
    await receive(ws, seats(event["id"], 11))
    await ws.close()


async def test_all_events_subscription_hears_created_updated_deleted(client, admin, make_event):
    """The admin dashboard's subscription to every event sees events come and go."""
    ws = await connect(client, admin)
    await subscribe(ws, "all")
    event = await make_event(title="Brand new")
    created = await receive(ws, lambda m: m["event_id"] == event["id"])
    assert created["type"] == "created" and created["event"]["title"] == "Brand new"

    await admin.call("PATCH", f"/api/v1/events/{event['id']}", json={"title": "Renamed"})
    updated = await receive(ws, lambda m: m["event_id"] == event["id"])
    assert updated["type"] == "updated" and updated["event"]["title"] == "Renamed"

    await admin.call("PATCH", f"/api/v1/events/{event['id']}", json={"total_seats": 150})
    capacity = await receive(ws, lambda m: m["event_id"] == event["id"])
    assert capacity["type"] == "seats" and capacity["event"]["total_seats"] == 150

    await admin.delete(f"/api/v1/events/{event['id']}")
    deleted = await receive(ws, lambda m: m["event_id"] == event["id"])
    assert deleted["type"] == "deleted" and deleted["event"] is None
    assert deleted["version"] > capacity["version"]
    await ws.close()


async def test_unsubscribed_events_are_quiet(client, user, clerk, make_event):
    """After unsubscribing from an event, its changes are no longer sent."""
    quiet, loud = await make_event(), await make_event()
    ws = await connect(client, user)
    await subscribe(ws, [quiet["id"], loud["id"]])
    await ws.send_json({"type": "unsubscribe", "events": [quiet["id"]]})
    assert (await receive(ws))["type"] == "unsubscribed"
    await clerk.post("/api/v1/bookings", json={"event_id": quiet["id"]})
    await clerk.post("/api/v1/bookings", json={"event_id": loud["id"]})
    # Changes reach a client in commit order, so the quiet one would have come first.
    seen: list[Message] = []
    await receive(ws, lambda m: m["event_id"] == loud["id"], seen=seen)
    assert seen == []
    await ws.close()


async def test_unknown_event_ids_are_reported_missing(client, user, make_event):
    event = await make_event()
    ws = await connect(client, user)
    await ws.send_json({"type": "subscribe", "events": [event["id"], 999999]})
    ack = await receive(ws)
    assert ack["missing"] == [999999]
    assert (await receive(ws))["event_id"] == event["id"]
    await ws.close()


@pytest.mark.parametrize("events", ["all", "ids"])
async def test_subscribing_again_sends_no_snapshots_again(client, user, clerk, make_event, events):
    """Subscribing again and again to what a connection already follows is acknowledged,
    but reads and sends nothing: 30 repeats cost 30 small acks, not 30 snapshots of all."""
    made = [await make_event(), await make_event(), await make_event()]
    ids = [e["id"] for e in made]
    wanted = "all" if events == "all" else ids
    ws = await connect(client, user)
    assert len(await subscribe(ws, wanted)) == 3
    for _ in range(30):
        await ws.send_json({"type": "subscribe", "events": wanted})
    await ws.send_json({"type": "ping"})
    # A change after the pong: a snapshot still owed would be sent before it.
    await clerk.post("/api/v1/bookings", json={"event_id": ids[2]})
    seen: list[Message] = []
    await receive(ws, seats(ids[2], 99), seen=seen)
    assert [m["type"] for m in seen] == ["subscribed"] * 30 + ["pong"], seen
    await ws.close()


async def test_subscribes_that_read_are_paced_per_connection(client, user, make_event):
    """Unsubscribing and subscribing to everything in a loop would read every event each
    time: past a burst, such subscribes get an error saying when to retry."""
    await make_event()
    ws = await connect(client, user)
    await subscribe(ws, "all")
    started = time.monotonic()
    for _ in range(30):
        await ws.send_json({"type": "unsubscribe", "events": "all"})
        await ws.send_json({"type": "subscribe", "events": "all"})
    await ws.send_json({"type": "ping"})
    replies: list[Message] = []
    await receive(ws, lambda m: m["type"] == "pong", seen=replies)
    elapsed = time.monotonic() - started
    answers = [m for m in replies if m["type"] in ("subscribed", "error")]
    accepted = [m for m in answers if m["type"] == "subscribed"]
    refused = [m for m in answers if m["type"] == "error"]
    assert len(answers) == 30, replies
    # The first subscribe used one of the burst; then one more per interval elapsed.
    assert len(accepted) <= SUBSCRIBE_BURST - 1 + elapsed / SUBSCRIBE_INTERVAL + 1, replies
    assert refused and all("retry in" in m["message"] for m in refused), refused
    await ws.close()


# --- authentication -----------------------------------------------------------------


async def closed_with(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, str]:
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE, msg
    return msg.data, msg.extra


@pytest.mark.parametrize(
    "headers, query",
    [
        ({}, ""),
        ({"Authorization": "Bearer not-a-token"}, ""),
        ({}, "?token=not-a-token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, ""),
    ],
)
async def test_missing_or_bad_token_is_closed_with_4401(client, headers, query):
    ws = await client.ws_connect(WS + query, headers=headers)
    code, reason = await closed_with(ws)
    assert code == 4401 and reason


async def test_expired_token_is_closed_with_a_reason(client, user, config):
    now = int(time.time())
    claims = {
        "sub": str(user.user_id),
        "role": "user",
        "typ": "access",
        "iat": now - 100,
        "exp": now - 10,
    }
    token = jwt.encode(claims, config.jwt_secret, algorithm="HS256")
    ws = await client.ws_connect(f"{WS}?token={token}")
    code, reason = await closed_with(ws)
    assert code == 4401 and "expired" in reason


async def test_token_in_query_parameter_works(client, user):
    ws = await client.ws_connect(f"{WS}?token={user.token}")
    assert (await receive(ws))["type"] == "hello"
    await ws.close()


async def test_connection_closes_when_its_token_expires_unless_renewed(
    aiohttp_client, config, clean_db
):
    """A connection lives as long as its token: renewing it keeps it open."""
    short = await aiohttp_client(create_app(config.replace(access_token_ttl=2)))
    actors = Actors(short)
    renewing, lapsing = await actors.new("user"), await actors.new("user")
    ws_renew = await connect(short, renewing)
    ws_lapse = await connect(short, lapsing)
    now = int(time.time())
    claims = {
        "sub": str(renewing.user_id),
        "name": renewing.username,
        "role": "user",
        "typ": "access",
        "iat": now,
        "exp": now + 60,
    }
    fresh_token = jwt.encode(claims, config.jwt_secret, algorithm="HS256")
    await ws_renew.send_json({"type": "auth", "token": fresh_token})
    code, reason = await closed_with(ws_lapse)
    assert code == 4401 and "expired" in reason
    await ws_renew.send_json({"type": "ping"})
    assert (await receive(ws_renew))["type"] == "pong"
    await ws_renew.close()


# --- misbehaving clients ---------------------------------------------------------------


@pytest.mark.parametrize(
    "sent, expected",
    [
        ("not json", "JSON"),
        ("[1, 2]", "JSON"),
        ('{"type": "dance"}', "unknown message type"),
        ('{"no": "type"}', "unknown message type"),
        ('{"type": "subscribe", "events": ["x"]}', "invalid subscribe"),
        ('{"type": "subscribe", "events": [-1]}', "invalid subscribe"),
        ('{"type": "subscribe"}', "invalid subscribe"),
        ('{"type": "subscribe", "events": [1], "extra": 1}', "invalid subscribe"),
        ('{"type": "auth", "token": "forged"}', "Invalid access token"),
        ('{"type": ["subscribe"]}', "unknown message type"),
        ("[" * 30_000 + "]" * 30_000, "JSON"),
        ('{"type": "subscribe", "events": ' + "[" * 20_000 + "]" * 20_000 + "}", "JSON"),
        ('{"type": "ping", "x": ' + '{"a": ' * 5_000 + "1" + "}" * 5_001, "JSON"),
        ('{"type": "subscribe", "events": [' + "1" * 5_000 + "]}", "JSON"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else v,
)
async def test_malformed_messages_get_an_error_and_the_connection_lives(
    client, user, sent, expected, caplog
):
    """However deep, large or ill-typed a message, the answer is an error message and the
    connection stays open: never a close with 1011 and a traceback in the log."""
    caplog.set_level(logging.ERROR)
    ws = await connect(client, user)
    await ws.send_str(sent)
    error = await receive(ws)
    assert error["type"] == "error" and expected in error["message"], error
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    await ws.send_json({"type": "ping"})
    assert (await receive(ws))["type"] == "pong"
    await ws.close()


async def test_binary_and_oversized_messages(client, user):
    ws = await connect(client, user)
    await ws.send_bytes(b"\x00\x01")
    assert (await receive(ws))["type"] == "error"
    await ws.send_str("x" * (65 * 1024))
    code, _ = await closed_with(ws)
    assert code == 1009


async def test_a_misbehaving_client_does_not_affect_others(client, actors, clerk, make_event):
    event = await make_event(total_seats=5)
    good, bad = await actors.new("user"), await actors.new("user")
    ws_good, ws_bad = await connect(client, good), await connect(client, bad)
    await subscribe(ws_good, [event["id"]])
    for junk in ("{", '{"type": 5}', "\x00", "[]" * 1000):
        await ws_bad.send_str(junk)
    await ws_bad.send_str("x" * (70 * 1024))  # gets it closed
    await clerk.post("/api/v1/bookings", json={"event_id": event["id"]})
    await receive(ws_good, seats(event["id"], 4))
    await ws_good.close()


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Poll server state that has no event to wait on, with a deadline."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


async def test_a_client_that_stops_reading_is_dropped(
    aiohttp_client, config, clean_db, database_url, actors_factory=None
):
    """A subscriber that never reads is disconnected (4408) once the server cannot send
    to it for ws_send_timeout, while a reading subscriber keeps getting updates."""
    server = await aiohttp_client(create_app(config.replace(ws_send_timeout=0.5)))
    actors = Actors(server)
    admin = await actors.new("admin")
    reader = await actors.new("user")
    hub = server.server.app[HUB]

    # A raw client with a tiny receive window that never reads what it is sent.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (server.host, server.port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        (
            f"GET {WS}?token={admin.token} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        + _masked_text_frame(json.dumps({"type": "subscribe", "events": "all"})),
    )
    await wait_until(lambda: any(s.everything for s in hub.subscribers))
    ws = await connect(server, reader)

    # Make a lot of traffic: many events with long descriptions, changed over and over.
    for i in range(40):
        await admin.post(
            "/api/v1/events",
            json={
                "title": f"E{i}",
                "date": "2099-01-01T00:00:00+00:00",
                "total_seats": 10,
                "price": "1.00",
                "description": "d" * 1000,
            },
        )
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    stuck = [s for s in hub.subscribers if s.everything]
    async with asyncio.timeout(20):
        while any(not s.ws.closed for s in stuck):
            with conn.cursor() as cur:
                cur.execute(
                    "UPDATE events SET description = md5(random()::text) || "
                    "repeat('x', 960), version = version + 1"
                )
            await asyncio.sleep(0.05)  # pacing the writer, not synchronising
    conn.close()
    assert stuck[0].closed_with is not None and stuck[0].closed_with[0] == 4408
    await wait_until(lambda: stuck[0] not in hub.subscribers)
    # Bounded: never more pending than one message per event.
    assert stuck[0].waiting <= 40

    await ws.send_json({"type": "ping"})
    assert (await receive(ws, lambda m: m["type"] == "pong"))["type"] == "pong"
    await ws.close()
    sock.close()


async def test_shutdown_closes_websockets_with_going_away(aiohttp_client, config, clean_db):
    server = await aiohttp_client(create_app(config))
    someone = await Actors(server).new("user")
    ws = await connect(server, someone)
    closing = asyncio.create_task(server.server.close())
    code, _ = await closed_with(ws)
    await closing
    assert code == 1001


async def test_protocol_is_documented(client):
    """The OpenAPI document and /docs/plain describe the websocket: messages and close codes."""
    async with client.get("/api/v1/openapi.json") as resp:
        doc = await resp.json()
    op = doc["paths"][WS]["get"]
    for code in ("1001", "1009", "4401", "4408"):
        assert code in op["description"]
    schemas = doc["components"]["schemas"]
    for name, ref in op["x-websocket-messages"].items():
        assert ref["$ref"] == f"#/components/schemas/{name}" and name in schemas
    assert {"Subscribe", "LiveEvent", "Hello", "LiveError"} <= set(op["x-websocket-messages"])
    async with client.get("/docs/plain") as resp:
        page = await resp.text()
    assert "/api/v1/ws" in page and "4408" in page and "LiveEvent" in page
