"""Behind a proxy (issue 13): with BOXOFFICE_TRUSTED_PROXIES, the client a trusted proxy
names in X-Forwarded-For is the address in the audit log, the login throttles and every
log line of the request (the access log too); anyone else's X-Forwarded-For is ignored.

The servers here listen on loopback, so the tests' own requests come from 127.0.0.1:
trusting it stands for a proxy beside the server.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from support import PASSWORD, Actors, call, event_body
from test_audit import last_id, one_record
from test_observability import captured, wait_for

from server import logs
from server.app import create_app
from server.config import Config
from server.keys import AUTH

V1 = "/api/v1"
PEER = "127.0.0.1"
CLIENT = "203.0.113.9"
# Written by the client itself before the proxy appended CLIENT: never to be believed.
SPOOFED = "198.51.100.66"
FORWARDED = {"X-Forwarded-For": f"{SPOOFED}, {CLIENT}"}
LOGGERS = ("boxoffice.test", "server.envelope", logs.ACCESS_LOGGER)

said = logging.getLogger("boxoffice.test")


async def boom(request: web.Request) -> web.Response:
    said.info("about to fail")
    raise RuntimeError("the handler broke")


async def serve(aiohttp_client: Any, config: Config, trusted: tuple[str, ...]) -> Any:
    """A server trusting ``trusted``, with every request in the access log, as ``boxoffice
    serve`` runs it with BOXOFFICE_ACCESS_LOG=full."""
    config = config.replace(trusted_proxies=trusted, access_log="full")
    app = create_app(config)
    app.router.add_get("/boom", boom)
    server = TestServer(app)
    await server.start_server(**logs.access_log(config))
    return await aiohttp_client(server)


@pytest.mark.parametrize(
    ("trusted", "seen"),
    [
        # The peer is a trusted proxy: the rightmost address it did not add itself.
        (("127.0.0.1",), CLIENT),
        (("127.0.0.0/8", "10.0.0.0/8"), CLIENT),
        # Proxies are trusted, but not this peer: its header is its own claim.
        (("10.0.0.0/8",), PEER),
        # No proxies at all (the default): the header is ignored.
        ((), PEER),
    ],
)
async def test_the_client_address_everywhere(
    aiohttp_client, config, clean_db, db_rows, trusted, seen
):
    """One proxied admin's change, failed login and server error: the audit record's
    source, the throttle's address and the log lines (JSON) all name ``seen``; the other
    address of the header is in none of them."""
    # Captured from the start: aiohttp decides whether to write access lines when a
    # connection opens, and the admin's login opens the one used throughout.
    with captured("json", *LOGGERS) as stream:
        client = await serve(aiohttp_client, config, trusted)
        admin = await Actors(client).new("admin")
        await client.server.app[AUTH].create_user("frontdesk", PASSWORD, "clerk")
        await wait_for(lambda: "auth/login" in stream.getvalue())  # the admin's login
        start, mark = len(stream.getvalue()), last_id(db_rows)
        created = await admin.post(f"{V1}/events", json=event_body(), headers=FORWARDED)
        assert created.status == 201, created.body
        body = {"username": "frontdesk", "password": "wrong password"}
        failed = await call(client, "POST", f"{V1}/auth/login", json=body, headers=FORWARDED)
        assert failed.status == 401, failed.body
        async with client.get("/boom", headers=FORWARDED | {"X-Request-ID": "boom-1"}) as resp:
            assert resp.status == 500
        await wait_for(lambda: stream.getvalue().count("/boom") >= 2)  # the error, the access
    logged = stream.getvalue()[start:]

    record = await one_record(admin, mark)
    assert (record["action"], record["source"]) == ("event.create", seen)
    addresses = db_rows("SELECT DISTINCT address FROM throttles WHERE kind <> 'login_username'")
    assert addresses == [(seen,)]

    lines = [json.loads(line) for line in logged.splitlines()]
    of_boom = [line for line in lines if line["request_id"] == "boom-1"]
    assert {line["logger"] for line in of_boom} == set(LOGGERS)
    for line in of_boom:
        assert line["client"] == seen, line
    access = [line for line in lines if line["logger"] == logs.ACCESS_LOGGER]
    assert [line["path"] for line in access] == [f"{V1}/events", f"{V1}/auth/login", "/boom"]
    for line in access:
        assert line["client"] == seen, line
        assert line["message"].startswith(f"{seen} ["), line  # aiohttp's %a
    other = {SPOOFED, CLIENT} - {seen}
    assert not [address for address in other if address in logged]


async def test_text_lines_name_the_client(aiohttp_client, config, clean_db):
    """In text, a request's lines end with its id and client, and the access line begins
    with the client, as in a web server's log."""
    client = await serve(aiohttp_client, config, ("127.0.0.1",))
    with captured("text", *LOGGERS) as stream:
        async with client.get("/boom", headers=FORWARDED | {"X-Request-ID": "boom-2"}) as resp:
            assert resp.status == 500
        await wait_for(lambda: stream.getvalue().count("/boom") >= 2)
    text = stream.getvalue()
    assert f"boxoffice.test: about to fail [request boom-2 from {CLIENT}]" in text
    assert f"(request id boom-2) [request boom-2 from {CLIENT}]" in text
    assert f"aiohttp.access: {CLIENT} [" in text
    assert SPOOFED not in text
    assert PEER not in text


async def test_errors_only_access_log_names_the_client(aiohttp_client, config, clean_db):
    """The default access log (failed and slow requests only) names the client too."""
    config = config.replace(trusted_proxies=("127.0.0.1",))
    server = TestServer(create_app(config))
    await server.start_server(**logs.access_log(config))
    client = await aiohttp_client(server)
    with captured("json", logs.ACCESS_LOGGER) as stream:
        missing = await call(client, "GET", f"{V1}/events/999", headers=FORWARDED)
        assert missing.status == 404
        await wait_for(lambda: "/999" in stream.getvalue())
    [line] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert line["client"] == CLIENT
    assert line["message"].startswith(f"{CLIENT} [")


# --- the compose file's nginx ------------------------------------------------------------


def test_nginx_names_the_client_and_never_retries_a_non_idempotent_request():
    """Every location that proxies to the servers sends X-Forwarded-For (the compose file
    trusts nginx's networks), and no retry on another replica covers POST, PATCH or DELETE
    (a timed-out order may have been placed: a second replica would place it again)."""
    conf = (Path(__file__).parent.parent / "deploy" / "nginx.conf").read_text()
    conf = re.sub(r"#.*", "", conf)  # comments say "non_idempotent" too
    locations = re.findall(r"location\s[^{]*\{[^}]*\}", conf)
    proxied = [block for block in locations if "proxy_pass" in block]
    assert len(proxied) == 3, locations  # the websocket, /api/v1/auth/, the rest
    for block in proxied:
        assert "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;" in block, block
    retries = re.findall(r"proxy_next_upstream\s[^;]*;", conf)
    assert retries, "the retry on another replica is stated"
    assert not [r for r in retries if "non_idempotent" in r]
