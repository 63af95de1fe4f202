"""Live seat updates over /api/v1/ws with an integration API token instead of an access token,
and the websocket through a database outage: real websockets, real servers, real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import psycopg2
import pytest
from psycopg2.extensions import parse_dsn
from test_api_tokens import TOKENS, issue
from test_live import WS, receive, seats, subscribe

from server.app import create_app
from server.config import Config
from server.embedded import with_database
from server.handlers.live import MIN_RECHECK_SECONDS

# Connections made with an API token re-check it this often (the token cache period).
RECHECK = MIN_RECHECK_SECONDS


@pytest.fixture
def config(config: Config) -> Config:
    """A short token cache, so a revocation reaches an open websocket quickly."""
    return config.replace(api_token_cache_seconds=RECHECK)


async def connect(
    server: Any, token: str, *, query: bool = False
) -> aiohttp.ClientWebSocketResponse:
    if query:
        return await server.ws_connect(f"{WS}?token={token}")
    return await server.ws_connect(WS, headers={"Authorization": f"Bearer {token}"})


async def closed_with(ws: aiohttp.ClientWebSocketResponse, within: float) -> tuple[int, str]:
    msg = await ws.receive(timeout=within)
    assert msg.type == aiohttp.WSMsgType.CLOSE, msg
    return msg.data, msg.extra


@pytest.mark.parametrize("query", [False, True], ids=["header", "query"])
async def test_api_token_subscribes_and_hears_others_bookings(
    client, admin, clerk, make_event, query
):
    """A third party's token gets live seats, in a header or the token parameter."""
    event = await make_event(total_seats=10)
    issued = await issue(admin, name="Acme Tickets", role="user")
    ws = await connect(client, issued["token"], query=query)
    hello = await receive(ws)
    assert hello["type"] == "hello"
    assert hello["user"] == "token:Acme Tickets" and hello["role"] == "user"
    assert hello["token_expires_at"] is None  # an API token does not expire
    [snap] = await subscribe(ws, [event["id"]])
    assert snap["event"]["available_seats"] == 10

    await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 3})
    update = await receive(ws, seats(event["id"], 7))
    assert update["type"] == "seats" and update["version"] > snap["version"]
    await ws.close()


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: "bo_1_short",  # malformed
        lambda t: f"bo_{t['id'] + 1000}_{t['token'].split('_', 2)[2]}",  # unknown id
        lambda t: t["token"][:-1] + ("B" if t["token"].endswith("A") else "A"),  # wrong secret
    ],
    ids=["malformed", "unknown-id", "wrong-secret"],
)
@pytest.mark.parametrize("query", [False, True], ids=["header", "query"])
async def test_wrong_api_token_is_closed_with_4401(client, admin, forge, query):
    issued = await issue(admin)
    ws = await connect(client, forge(issued), query=query)
    code, reason = await closed_with(ws, within=5)
    assert code == 4401 and "API token" in reason


async def test_revoking_the_token_closes_its_websocket(client, admin, make_event):
    """A revoked token's connection closes with 4401 within the re-check interval; another
    token's connection, re-checked just as often, stays open."""
    event = await make_event()
    doomed, kept = await issue(admin, name="doomed"), await issue(admin, name="kept")
    ws_doomed = await connect(client, doomed["token"])
    ws_kept = await connect(client, kept["token"])
    for ws in (ws_doomed, ws_kept):
        assert (await receive(ws))["type"] == "hello"
        await subscribe(ws, [event["id"]])

    revoked = await admin.delete(f"{TOKENS}/{doomed['id']}")
    assert revoked.status == 200, revoked.body
    code, reason = await closed_with(ws_doomed, within=RECHECK + 2)
    assert code == 4401 and reason == "API token revoked"

    await ws_kept.send_json({"type": "ping"})
    assert (await receive(ws_kept))["type"] == "pong"
    await ws_kept.close()


async def test_revoking_on_one_instance_closes_the_websocket_on_another(
    aiohttp_client, client, config, admin
):
    """The other instance's cached check lapses within the cache period, then its re-check
    fails: the connection closes within about two periods."""
    other = await aiohttp_client(create_app(config))
    issued = await issue(admin)
    ws = await connect(other, issued["token"])
    assert (await receive(ws))["type"] == "hello"
    assert (await admin.delete(f"{TOKENS}/{issued['id']}")).status == 200
    code, reason = await closed_with(ws, within=2 * RECHECK + 3)
    assert code == 4401 and reason == "API token revoked"


async def test_auth_message_on_an_api_token_connection_is_an_error(client, admin, clerk):
    """In-band re-authentication renews access tokens; an API token's connection answers
    it with an error, keeps its identity and stays open."""
    issued = await issue(admin, name="kiosk")
    ws = await connect(client, issued["token"])
    assert (await receive(ws))["type"] == "hello"
    for token in (clerk.token, issued["token"]):
        await ws.send_json({"type": "auth", "token": token})
        error = await receive(ws)
        assert error["type"] == "error" and "API token" in error["message"]
    await ws.send_json({"type": "ping"})
    assert (await receive(ws))["type"] == "pong"
    await ws.close()


async def test_a_clerk_token_sees_what_a_clerk_sees(client, admin, clerk, user, make_event):
    """A clerk-role token and a logged-in clerk, both watching every event (the dashboard),
    get the same hello role, the same snapshots and the same changes."""
    first = await make_event(title="First", total_seats=20)
    issued = await issue(admin, name="box office kiosk", role="clerk")
    ws_token = await connect(client, issued["token"])
    ws_clerk = await connect(client, clerk.token)
    hellos = [await receive(ws) for ws in (ws_token, ws_clerk)]
    assert [h["role"] for h in hellos] == ["clerk", "clerk"]
    assert hellos[1]["token_expires_at"] is not None
    snapshots = [await subscribe(ws, "all") for ws in (ws_token, ws_clerk)]
    assert snapshots[0] == snapshots[1] and snapshots[0][0]["event_id"] == first["id"]

    second = await make_event(title="Second", total_seats=5)
    await user.post("/api/v1/bookings", json={"event_id": first["id"], "quantity": 2})
    heard = []
    for ws in (ws_token, ws_clerk):
        created = await receive(ws, lambda m: m["event_id"] == second["id"])
        booked = await receive(ws, seats(first["id"], 18))
        heard.append((created, booked))
    assert heard[0] == heard[1]
    assert heard[0][0]["type"] == "created" and heard[0][1]["type"] == "seats"

    # The clerk token's REST calls are a clerk's too: the event's bookings list.
    async with client.get(
        f"/api/v1/bookings/event/{first['id']}",
        headers={"Authorization": f"Bearer {issued['token']}"},
    ) as resp:
        assert resp.status == 200
        assert [b["quantity"] for b in (await resp.json())["data"]] == [2]
    for ws in (ws_token, ws_clerk):
        await ws.close()


@contextlib.contextmanager
def database_refusing_connections(database_url: str) -> Iterator[None]:
    """The server's database as in an outage: its connections dropped, new ones refused."""
    name = parse_dsn(database_url)["dbname"]
    with contextlib.closing(psycopg2.connect(with_database(database_url, "postgres"))) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )
                yield
            finally:
                cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


TRY_AGAIN = (1013, "the database is unavailable: reconnect shortly")


async def reconnected(client: Any, token: str) -> tuple[Any, dict[str, Any]]:
    """Connect as a client told "reconnect shortly" does, until the server has its database
    back (a pooled connection the outage cut is found dead, and dropped, on its first use):
    the websocket and its first message."""
    async with asyncio.timeout(10):
        while True:
            ws = await connect(client, token)
            first = await ws.receive()
            if first.type == aiohttp.WSMsgType.TEXT:
                return ws, first.json()
            assert (first.data, first.extra) == TRY_AGAIN, first


async def test_database_outage_while_checking_the_token_closes_with_try_again(
    client, admin, database_url
):
    """The token cannot be checked: a clean 1013 "reconnect shortly", not a broken frame;
    once the database is back the same token connects."""
    issued = await issue(admin, name="Acme Tickets", role="user")
    with database_refusing_connections(database_url):
        ws = await connect(client, issued["token"])
        assert await closed_with(ws, within=10) == TRY_AGAIN

    ws, hello = await reconnected(client, issued["token"])
    assert hello["type"] == "hello"
    await ws.close()


async def test_database_outage_while_subscribing_closes_with_try_again(
    client, user, make_event, database_url
):
    """A subscription's snapshots cannot be read: 1013, and after the outage the client
    reconnects and subscribes as usual (any token: access tokens need no database)."""
    event = await make_event(total_seats=4)
    ws = await connect(client, user.token)
    assert (await receive(ws))["type"] == "hello"
    with database_refusing_connections(database_url):
        await ws.send_json({"type": "subscribe", "events": [event["id"]]})
        assert await closed_with(ws, within=10) == TRY_AGAIN

    ws, hello = await reconnected(client, user.token)
    assert hello["type"] == "hello"
    [snap] = await subscribe(ws, [event["id"]])
    assert snap["event"]["available_seats"] == 4
    await ws.close()
