"""Observability: /metrics, /healthz, /readyz and JSON log lines with request ids."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import prometheus_client
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families
from support import call, cut_listeners

from server import logs
from server.app import create_app
from server.config import Config, ConfigError
from server.keys import LISTENER, METRICS

V1 = "/api/v1"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Any) -> Samples:
    async with client.get("/metrics") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def http(**labels: str) -> dict[str, str]:
    """The labels of aiohttp-prometheus-exporter's series: the address label is always empty."""
    return {"scheme": "http", "remote": ""} | labels


def requests_of(samples: Samples, route: str, method: str, status: int) -> float:
    labels = http(path_template=route, method=method, status_code=str(status))
    return value(samples, "http_responses_total", **labels)


async def wait_for(condition: Any, within: float = 10.0) -> None:
    """Poll server state that has no event to wait on, with a deadline."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


# --- metrics ---------------------------------------------------------------------


async def test_metrics_count_a_booking_by_route_template(client, user, make_event):
    """A booking moves the business counters and the request counter of its route
    template; no label holds a concrete path or the client's address."""
    event = await make_event(total_seats=3, price="0.00")  # free: a user's booking is a sale
    before = await scrape(client)
    reply = await user.post(f"{V1}/bookings", json={"event_id": event["id"], "quantity": 2})
    assert reply.status == 201
    booking_id = reply.data["id"]
    assert (await user.get(f"{V1}/bookings/{booking_id}")).status == 200
    refused = await user.post(f"{V1}/bookings", json={"event_id": event["id"], "quantity": 2})
    assert refused.status == 409
    assert (await user.delete(f"{V1}/bookings/{booking_id}")).status == 200
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("boxoffice_bookings_total", outcome="created") == 1
    assert delta("boxoffice_bookings_total", outcome="refused_sold_out") == 1
    assert delta("boxoffice_seats_sold_total") == 2
    assert delta("boxoffice_cancellations_total", outcome="cancelled") == 1
    assert requests_of(after, f"{V1}/bookings", "POST", 201) >= 1
    assert requests_of(after, f"{V1}/bookings", "POST", 409) >= 1
    template = f"{V1}/bookings/{{booking_id}}"
    assert requests_of(after, template, "GET", 200) == requests_of(before, template, "GET", 200) + 1
    assert requests_of(after, template, "DELETE", 200) >= 1
    labels = http(path_template=template, method="GET", status_code="200")
    assert value(after, "http_request_duration_seconds_count", **labels) >= 1
    assert value(after, "http_requests_total", **http(path_template=template, method="GET")) >= 1
    labels = {v for _, ls in after for _, v in ls}
    assert f"{V1}/bookings/{booking_id}" not in labels
    assert not any("127.0.0.1" in v or "::1" in v for v in labels), labels


async def test_the_seeds_metric_names_and_no_websocket_timing(client, user):
    """Dashboards built on the seed's names find them; a websocket, open for hours, is
    neither counted nor timed (its subscribers are a gauge of their own)."""
    async with client.get("/healthz") as resp:
        assert resp.status == 200
    ws = await client.ws_connect(f"{V1}/ws", headers={"Authorization": f"Bearer {user.token}"})
    hello = await ws.receive_json(timeout=10)
    assert hello["type"] == "hello"
    samples = await scrape(client)
    await ws.close()
    names = {name for name, _ in samples}
    assert {"http_requests_total", "http_request_duration_seconds_count"} <= names
    assert "http_requests_in_progress" in names
    assert value(samples, "boxoffice_websocket_subscribers") == 1
    routes = {dict(labels).get("path_template") for _, labels in samples}
    assert "/healthz" in routes and f"{V1}/ws" not in routes


async def test_unmatched_paths_share_one_label(client):
    """Unknown paths count under one label, so scanners cannot blow up the series."""
    before = await scrape(client)
    for path in ("/nope", "/wp-admin/setup.php", f"{V1}/nothing/here"):
        async with client.get(path) as resp:
            assert resp.status == 404
    after = await scrape(client)
    assert (
        requests_of(after, "__not_matched__", "GET", 404)
        - requests_of(before, "__not_matched__", "GET", 404)
        == 3
    )
    assert not any(v.startswith("/wp-admin") for _, ls in after for _, v in ls)


async def test_metrics_read_live_state_at_scrape_time(client, config):
    """Pool, LISTEN and websocket gauges come from the running app."""
    samples = await scrape(client)
    assert value(samples, "boxoffice_db_pool_max_connections") == config.pool_max_size
    assert value(samples, "boxoffice_db_pool_connections") >= 1
    assert value(samples, "boxoffice_listen_connected") == 1
    assert value(samples, "boxoffice_websocket_subscribers") == 0
    assert ("boxoffice_listen_reconnects_total", frozenset()) in samples
    in_progress = http(path_template="/metrics", method="GET")
    assert value(samples, "http_requests_in_progress", **in_progress) == 1  # this scrape
    assert value(samples, "boxoffice_accounts_synced") == 1


async def test_metrics_count_the_accounts_watched(client, admin, clerk):
    """A disabled account joins the in-memory map that access tokens are checked against,
    once its change is heard."""
    assert value(await scrape(client), "boxoffice_accounts_watched") == 0
    reply = await admin.call("PATCH", f"/api/v1/users/{clerk.user_id}", json={"disabled": True})
    assert reply.status == 200, reply.body
    async with asyncio.timeout(10):
        while value(await scrape(client), "boxoffice_accounts_watched") != 1:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # polling the scrape, which has no event to wait on


async def test_two_apps_in_one_process_count_apart(aiohttp_client, config, clean_db):
    """Each app has a registry of its own: no clash, no sharing, nothing global."""
    first = await aiohttp_client(create_app(config))
    second = await aiohttp_client(create_app(config))
    assert first.server.app[METRICS].registry is not second.server.app[METRICS].registry
    for _ in range(3):
        async with first.get("/healthz") as resp:
            assert resp.status == 200
    one, two = await scrape(first), await scrape(second)
    assert requests_of(one, "/healthz", "GET", 200) == 3
    assert requests_of(two, "/healthz", "GET", 200) == 0
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("boxoffice") for name in global_names)


async def test_metrics_can_be_turned_off(aiohttp_client, config, clean_db):
    """BOXOFFICE_METRICS=false: no /metrics route and nothing counted."""
    assert Config.from_env({"BOXOFFICE_METRICS": "false"}).metrics is False
    client = await aiohttp_client(create_app(config.replace(metrics=False)))
    assert METRICS not in client.server.app
    reply = await call(client, "GET", "/metrics")
    assert reply.status == 404


# --- health and readiness --------------------------------------------------------------


async def test_healthz_is_always_ok(client):
    reply = await call(client, "GET", "/healthz")
    assert reply.status == 200
    assert reply.data["status"] == "alive"


async def test_readyz_ok_when_database_and_listen_are_up(client):
    reply = await call(client, "GET", "/readyz")
    assert reply.status == 200, reply.body
    assert reply.data == {"status": "ready", "checks": {"database": "ok", "listen": "ok"}}


async def test_readyz_503_while_the_listen_connection_is_down(
    aiohttp_client, config, clean_db, database_url
):
    """The LISTEN connection is killed and kept from coming back: /readyz says so; once
    it reconnects, /readyz is ready again and the reconnect is counted."""
    client = await aiohttp_client(create_app(config.replace(listen_ping_interval=0.5)))
    listener = client.server.app[LISTENER]
    assert listener.connected.is_set()
    good_dsn = listener.dsn
    listener.dsn = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens on port 1
    try:
        killed = cut_listeners(database_url)
        assert killed >= 1
        await wait_for(lambda: not listener.connected.is_set())
        reply = await call(client, "GET", "/readyz")
        assert reply.status == 503, reply.body
        assert reply.body["status"] == "error"
        assert reply.data["checks"] == {"database": "ok", "listen": "down"}
        assert "listen" in reply.body["message"]
        assert value(await scrape(client), "boxoffice_accounts_synced") == 0
    finally:
        listener.dsn = good_dsn
    async with asyncio.timeout(15):
        await listener.connected.wait()
    assert (await call(client, "GET", "/readyz")).status == 200
    samples = await scrape(client)
    assert value(samples, "boxoffice_listen_reconnects_total") == 1
    assert value(samples, "boxoffice_listen_connected") == 1
    assert value(samples, "boxoffice_accounts_synced") == 1


# --- logs ------------------------------------------------------------------------------


@contextlib.contextmanager
def captured(log_format: str, *loggers: str) -> Iterator[io.StringIO]:
    """Log lines of ``loggers`` (at INFO) as the server would write them, into a buffer."""
    stream = io.StringIO()
    handler = logs.make_handler(log_format, stream)
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in loggers}
    root.addHandler(handler)
    for name in loggers:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def test_json_log_lines_carry_the_request_id(aiohttp_client, config, clean_db):
    """Lines logged during a request, by its handler and by a task it starts, and its
    access log line carry its X-Request-ID; lines outside a request carry none."""
    said = logging.getLogger("boxoffice.test")

    async def chatty(request: web.Request) -> web.Response:
        said.info("inside the handler")
        await asyncio.create_task(_log_later(said))
        return web.Response(text="ok")

    app = create_app(config)
    app.router.add_get("/chatty", chatty)
    with captured("json", "boxoffice.test", logs.ACCESS_LOGGER) as stream:
        client = await aiohttp_client(app)
        async with client.get("/chatty", headers={"X-Request-ID": "obs-test-1"}) as resp:
            assert resp.status == 200
            assert resp.headers["X-Request-ID"] == "obs-test-1"
        said.info("outside any request")
        await wait_for(lambda: "/chatty" in stream.getvalue())  # the access line is written
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for line in lines:
        assert {"timestamp", "level", "logger", "message", "request_id"} <= set(line)
    by_message = {line["message"]: line for line in lines}
    assert by_message["inside the handler"]["request_id"] == "obs-test-1"
    assert by_message["inside the handler"]["level"] == "INFO"
    assert by_message["inside the handler"]["logger"] == "boxoffice.test"
    assert by_message["in a task the handler started"]["request_id"] == "obs-test-1"
    assert by_message["outside any request"]["request_id"] is None
    access = [line for line in lines if line["logger"] == logs.ACCESS_LOGGER]
    assert len(access) == 1, access
    assert access[0]["request_id"] == "obs-test-1"
    assert access[0]["method"] == "GET"
    assert access[0]["path"] == "/chatty"
    assert access[0]["status"] == 200
    assert isinstance(access[0]["duration_ms"], float)


async def _log_later(log: logging.Logger) -> None:
    log.info("in a task the handler started")


async def test_text_log_lines_name_the_request(aiohttp_client, config, clean_db):
    """The text format keeps its shape and appends the request id and the client's
    address during a request."""
    said = logging.getLogger("boxoffice.test")

    async def chatty(request: web.Request) -> web.Response:
        said.info("hello")
        return web.Response(text="ok")

    app = create_app(config)
    app.router.add_get("/chatty", chatty)
    with captured("text", "boxoffice.test") as stream:
        client = await aiohttp_client(app)
        async with client.get("/chatty", headers={"X-Request-ID": "obs-test-2"}) as resp:
            assert resp.status == 200
    assert "INFO boxoffice.test: hello [request obs-test-2 from 127.0.0.1]" in stream.getvalue()


@pytest.mark.parametrize(
    ("setting", "logged"),
    [
        ("errors", ["/api/v1/events/999", "/slow"]),
        ("full", ["/api/v1/events", "/api/v1/events/999", "/slow", "/healthz"]),
        ("off", []),
    ],
)
async def test_access_log_setting(aiohttp_client, config, clean_db, monkeypatch, setting, logged):
    """BOXOFFICE_ACCESS_LOG: by default only failed and slow requests are logged (a line
    costs more than a cached browse); "full" logs every request, "off" none."""
    monkeypatch.setattr(logs, "SLOW_REQUEST_SECONDS", 0.2)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(0.25)  # slower than the threshold: the behaviour tested
        return web.Response(text="ok")

    app = create_app(config)
    app.router.add_get("/slow", slow)
    options = logs.access_log(Config.from_env({"BOXOFFICE_ACCESS_LOG": setting}))
    with captured("json", logs.ACCESS_LOGGER) as stream:
        server = TestServer(app)
        await server.start_server(**options)  # as run_app's runner gets them
        client = await aiohttp_client(server)
        for path in ("/api/v1/events", "/api/v1/events/999", "/slow", "/healthz"):
            async with client.get(path) as resp:
                assert resp.status == (404 if path.endswith("999") else 200)
        await client.close()  # every line written
    paths = [json.loads(line)["path"] for line in stream.getvalue().splitlines()]
    assert paths == logged


def test_log_format_is_checked():
    assert Config.from_env({"BOXOFFICE_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Config.from_env({"BOXOFFICE_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="ACCESS_LOG"):
        Config.from_env({"BOXOFFICE_ACCESS_LOG": "some"})
    with pytest.raises(ConfigError, match="METRICS"):
        Config.from_env({"BOXOFFICE_METRICS": "maybe"})


# --- secrets and client input in the logs -----------------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_query_tokens_are_redacted_from_the_logs(
    aiohttp_client, config, clean_db, log_format
):
    """Tokens sent as ?token= (the websocket, the ticket page), in a Referer, or in an error's
    text never reach the log; the rest of the line does."""
    token = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"
    said = logging.getLogger("boxoffice.test")

    async def leaky(request: web.Request) -> web.Response:
        said.warning("retrying %s", request.path_qs)
        raise RuntimeError(f"upstream refused {request.url}")

    app = create_app(config)
    app.router.add_get("/leaky", leaky)
    loggers = ("boxoffice.test", "server.envelope", logs.ACCESS_LOGGER)
    with captured(log_format, *loggers) as stream:
        client = await aiohttp_client(app)
        async with client.get(f"{V1}/ws", params={"token": token, "hello": "world"}) as resp:
            assert resp.status == 400  # not a websocket handshake; logged all the same
        referer = f"https://shop.example/ticket?api_token={token}&page=2"
        async with client.get(
            "/api/v1/events", params={"Client_Secret": token}, headers={"Referer": referer}
        ) as resp:
            assert resp.status == 200
        async with client.get("/leaky", params={"refresh_token": token}) as resp:
            assert resp.status == 500
        await wait_for(lambda: stream.getvalue().count("/leaky") >= 3)  # warning, error, access
    text = stream.getvalue()
    assert token not in text
    assert "token=REDACTED&hello=world" in text
    assert "Client_Secret=REDACTED" in text
    assert "api_token=REDACTED&page=2" in text
    assert "refresh_token=REDACTED" in text
    assert "upstream refused" in text  # the exception is logged, without the token


async def test_unsafe_request_ids_are_replaced_not_echoed(aiohttp_client, config, clean_db):
    """A client's X-Request-ID is echoed and logged only when it is a short id of safe
    characters; anything else gets a fresh id, and the sent value is logged nowhere."""
    unsafe = ["two words", "<script>alert(1)</script>", "a" * 65, "ids/with/slashes", "ünï"]
    with captured("json", logs.ACCESS_LOGGER) as stream:
        client = await aiohttp_client(create_app(config))
        for sent in unsafe:
            async with client.get("/healthz", headers={"X-Request-ID": sent}) as resp:
                got = resp.headers["X-Request-ID"]
                assert got != sent and len(got) == 32 and int(got, 16) >= 0
        async with client.get("/healthz", headers={"X-Request-ID": "trace:abc-1.2_x"}) as resp:
            assert resp.headers["X-Request-ID"] == "trace:abc-1.2_x"
        await wait_for(lambda: len(stream.getvalue().splitlines()) == len(unsafe) + 1)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines][-1] == "trace:abc-1.2_x"
    for sent in unsafe:
        assert sent not in stream.getvalue()


def test_log_files_are_private(tmp_path):
    """The demo's log file is created owner-only, and tightened if it exists wider."""
    fresh, old = tmp_path / "fresh.log", tmp_path / "old.log"
    old.write_text("earlier\n")
    old.chmod(0o644)
    for path in (fresh, old):
        with logs.open_private(path) as out:
            out.write("line\n")
        assert path.stat().st_mode & 0o777 == 0o600
    assert old.read_text() == "earlier\nline\n"
