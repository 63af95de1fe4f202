"""Webhooks through an outbox: every change reaches a real receiver on loopback once (to a
receiver that drops duplicates by delivery id), signed, in order per order, through 500s,
timeouts and a server SIGKILL; a change that rolled back sends nothing; an endpoint that
keeps failing is disabled with its deliveries kept, and a redelivery sends one again."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import psycopg2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from server_process import ADMIN, PASSWORD, ServerProcess, login, make_event, request
from support import Actors, event_body, rows
from test_observability import scrape, value
from textual.widgets import DataTable
from tui_support import Notices, go_to, running, text
from tui_support import until as until_shown

from common.models import WEBHOOK_TYPES
from server import keys
from server.app import create_app
from server.config import Config
from server.webhooks import Sender
from tui.screens.webhooks import WebhooksScreen

WAIT = 15.0  # seconds any awaited delivery may take (retries included)
ALL_TYPES = list(WEBHOOK_TYPES)


@dataclass
class Received:
    delivery_id: str
    event_type: str
    timestamp: str
    signature: str
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)


@dataclass
class Receiver:
    """An idempotent receiver: answers 500 to the next ``fail`` requests, keeps the next
    ``hang`` ones waiting past the sender's timeout, then accepts; an accepted delivery id
    seen before is counted as a duplicate and dropped."""

    fail: int = 0
    hang: int = 0
    requests: int = 0
    duplicates: int = 0
    accepted: list[Received] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        async with self.changed:
            self.requests += 1
            self.changed.notify_all()
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=500, text="receiver down")
        if self.hang > 0:
            self.hang -= 1
            await self.release.wait()  # longer than the sender waits: a timeout
            return web.Response(status=503)  # (too late for anyone to read)
        h = request.headers
        delivery_id = h["Boxoffice-Webhook-Id"]
        async with self.changed:
            if any(r.delivery_id == delivery_id for r in self.accepted):
                self.duplicates += 1
            else:
                self.accepted.append(
                    Received(
                        delivery_id,
                        h["Boxoffice-Webhook-Event"],
                        h["Boxoffice-Webhook-Timestamp"],
                        h["Boxoffice-Webhook-Signature"],
                        raw,
                    )
                )
            self.changed.notify_all()
        return web.Response(status=204)

    async def wait_for(self, check: Callable[[list[Received]], bool], within: float = WAIT):
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(lambda: check(self.accepted))
        return self.accepted

    async def wait_requests(self, count: int) -> None:
        async with asyncio.timeout(WAIT), self.changed:
            await self.changed.wait_for(lambda: self.requests >= count)


def verifies(secret: str, r: Received) -> bool:
    mac = hmac.new(secret.encode(), r.timestamp.encode() + b"." + r.raw, hashlib.sha256)
    return hmac.compare_digest(r.signature, "v1=" + mac.hexdigest())


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield hook, str(server.make_url("/hook"))
    hook.release.set()
    await server.close()


@pytest.fixture
def config(config: Config) -> Config:
    # Fast retries so that failures and recoveries take a fraction of a second.
    return config.replace(
        webhook_timeout=0.5,
        webhook_backoff=0.05,
        webhook_backoff_max=0.2,
        webhook_poll_seconds=0.1,
    )


async def until(fetch: Callable[[], Any], check: Callable[[Any], bool]) -> Any:
    """What ``fetch`` answers once ``check`` accepts it: for the outbox's own record of an
    outcome, written just after the receiver answered."""
    async with asyncio.timeout(WAIT):
        while not check(found := await fetch()):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # a poll interval, not synchronisation
    return found


async def register_hook(admin: Any, url: str, events: list[str] | None = None) -> dict:
    reply = await admin.post("/api/v1/webhooks", json={"url": url, "events": events or ALL_TYPES})
    assert reply.status == 201, reply.body
    return reply.data


async def test_admins_register_list_pause_and_delete_endpoints(admin, clerk, receiver):
    hook, url = receiver
    created = await register_hook(admin, url, ["order.created"])
    assert created["secret"].startswith("whsec_") and created["status"] == "active"
    # The ping proves the URL and the secret.
    [ping] = await hook.wait_for(lambda got: len(got) == 1)
    assert ping.event_type == "ping" and verifies(created["secret"], ping)
    assert ping.body["data"]["webhook_id"] == created["id"]

    listed = (await admin.get("/api/v1/webhooks")).data
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]
    path = f"/api/v1/webhooks/{created['id']}"
    paused = await admin.call("PATCH", path, json={"status": "paused", "events": ALL_TYPES})
    assert paused.status == 200 and paused.data["status"] == "paused"
    assert paused.data["events"] == ALL_TYPES

    assert (await clerk.get("/api/v1/webhooks")).status == 403
    body = {"url": url, "events": ALL_TYPES}
    assert (await clerk.post("/api/v1/webhooks", json=body)).status == 403
    for bad in ("ftp://127.0.0.1/x", "http://me:pw@127.0.0.1/x", "http:///x", "hook"):
        reply = await admin.post("/api/v1/webhooks", json={"url": bad, "events": ALL_TYPES})
        assert reply.status == 422 and reply.fields == ["url"], (bad, reply.body)
    reply = await admin.post("/api/v1/webhooks", json={"url": url, "events": ["order.eaten"]})
    assert reply.status == 422 and reply.fields[0].startswith("events")
    reply = await admin.post("/api/v1/webhooks", json={"url": url, "events": []})
    assert reply.status == 422

    assert (await admin.delete(path)).status == 200
    assert (await admin.get(path)).status == 404
    assert (await admin.get(f"{path}/deliveries")).status == 404
    assert (await admin.delete(path)).status == 404


async def test_every_change_is_delivered_once_in_order_through_500s_and_timeouts(
    admin, clerk, make_event, receiver, db_rows
):
    hook, url = receiver
    created = await register_hook(admin, url)
    await hook.wait_for(lambda got: len(got) == 1)  # the ping
    hook.fail, hook.hang = 3, 2  # then down, then too slow, then back

    event = await make_event(total_seats=20, price="10.00")
    sale = await clerk.post(
        "/api/v1/bookings",
        json={"event_id": event["id"], "quantity": 2, "payment_method": "card"},
    )
    assert sale.status == 201, sale.body
    hold = await clerk.post(
        "/api/v1/bookings", json={"event_id": event["id"], "quantity": 3, "hold": True}
    )
    assert hold.status == 201 and hold.data["status"] == "pending", hold.body
    order = hold.data["id"]
    assert (await clerk.post(f"/api/v1/bookings/{order}/confirm", json={})).status == 200
    tickets = (await clerk.get(f"/api/v1/orders/{order}")).data["tickets"]
    returned = await clerk.post(
        f"/api/v1/orders/{order}/returns", json={"ticket_ids": [tickets[0]["id"]]}
    )
    assert returned.status == 200, returned.body
    checked = await clerk.post("/api/v1/checkins", json={"code": tickets[1]["code"]})
    assert checked.status == 200, checked.body
    assert (await clerk.delete(f"/api/v1/bookings/{sale.data['id']}")).status == 200
    patch = await admin.call("PATCH", f"/api/v1/events/{event['id']}", json={"title": "Renamed"})
    assert patch.status == 200
    other = await make_event(total_seats=5)
    assert (await admin.delete(f"/api/v1/events/{other['id']}")).status == 200

    expected = [
        ("event.created", event["id"]),
        ("order.created", sale.data["id"]),
        ("order.created", order),
        ("order.confirmed", order),
        ("order.returned", order),
        ("ticket.checked_in", order),
        ("order.cancelled", sale.data["id"]),
        ("event.updated", event["id"]),
        ("event.created", other["id"]),
        ("event.deleted", other["id"]),
    ]
    got = await hook.wait_for(lambda got: len(got) == 1 + len(expected))
    assert hook.duplicates == 0 and hook.requests >= len(got) + 5
    assert all(verifies(created["secret"], r) for r in got)

    def subject(r: Received) -> tuple[str, int]:
        data = r.body["data"]
        return (r.event_type, data["order"]["id"] if "order" in data else data["event"]["id"])

    assert sorted(map(subject, got[1:])) == sorted(expected)
    # Per order, in the order the changes were made, whatever the failures.
    of_order = [t for t, s in map(subject, got[1:]) if s == order and not t.startswith("event")]
    assert of_order == [
        "order.created",
        "order.confirmed",
        "order.returned",
        "ticket.checked_in",
    ]
    [held] = [r for r in got[1:] if subject(r) == ("order.created", order)]
    assert held.body["data"]["order"]["status"] == "pending"  # a hold is a pending order
    [sold] = [r for r in got[1:] if subject(r) == ("order.created", sale.data["id"])]
    body = sold.body
    assert body["id"] == sold.delivery_id and body["type"] == "order.created"
    assert body["data"]["order"]["amount"] == 20.00 and len(body["data"]["order"]["tickets"]) == 2
    assert '"amount": 20.00' in sold.raw.decode()  # exact, as stored

    # What the admin sees: every delivery delivered, the failed attempts counted.
    async def deliveries_now() -> list[dict]:
        return (await admin.get(f"/api/v1/webhooks/{created['id']}/deliveries")).data

    deliveries = await until(deliveries_now, lambda ds: {d["status"] for d in ds} == {"delivered"})
    assert sum(d["attempts"] for d in deliveries) >= len(deliveries) + 5
    assert any(d["last_status_code"] == 204 for d in deliveries)
    # And what the instance's /metrics says of its sender.
    samples = await scrape(admin.client)
    sent = "boxoffice_webhook_deliveries_total"
    assert value(samples, sent, outcome="delivered") == len(deliveries)
    assert value(samples, sent, outcome="failed") >= 5
    assert ("boxoffice_webhook_oldest_pending_seconds", frozenset()) in samples


class TestBookingsFirst:
    """While an instance is placing orders, its sender leaves the deliveries younger than
    BOXOFFICE_WEBHOOK_DEFER_SECONDS for later: a rush's sales are not slowed by sending
    their own deliveries."""

    @pytest.fixture
    def config(self, config: Config) -> Config:
        return config.replace(webhooks=False)  # the instance only writes: this test sends

    async def test_a_rush_defers_young_deliveries_and_sends_them_after(
        self, client, admin, clerk, make_event, receiver, database_url
    ):
        hook, url = receiver
        await register_hook(admin, url, ["order.created"])  # and its ping
        event = await make_event(total_seats=5)
        sold = await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 1})
        assert sold.status == 201, sold.body
        rush = True
        config = client.app[keys.CONFIG].replace(webhook_defer_seconds=30)
        sender = Sender(client.app[keys.DB], config, busy=lambda: rush)
        await sender.measure_backlog()  # what /metrics says: the ping and the order
        assert sender.backlog[0] == 2 and 0 <= sender.backlog[1] < 30
        async with aiohttp.ClientSession() as http:
            assert await sender.round(http) == 0  # both younger than 30 s: left
            assert hook.requests == 0
            # A delivery due for longer than the deferral goes even during a rush.
            with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
                cur.execute(
                    "UPDATE webhook_deliveries SET next_at = now() - interval '1 minute'"
                    " WHERE event_type = 'ping'"
                )
            assert await sender.round(http) == 1
            [ping] = await hook.wait_for(lambda got: len(got) == 1)
            assert ping.event_type == "ping"
            rush = False  # over: the rest goes at once
            assert await sender.round(http) == 1
        [_, order] = await hook.wait_for(lambda got: len(got) == 2)
        assert order.body["data"]["order"]["id"] == sold.data["id"]
        await sender.measure_backlog()
        assert sender.backlog == (0, 0.0)

    async def test_an_order_waiting_for_its_event_counts_as_being_placed(
        self, client, clerk, make_event, row_lock
    ):
        bookings = client.app[keys.BOOKINGS]
        event = await make_event(total_seats=5)
        await row_lock.hold(event["id"])
        body = {"event_id": event["id"], "quantity": 1}
        waiting = await row_lock.queue(clerk.post("/api/v1/bookings", json=body), waiting=1)
        assert bookings.placing == 1
        row_lock.release()
        assert (await waiting).status == 201
        assert bookings.placing == 0


async def test_old_delivered_and_failed_deliveries_are_forgotten_pending_ones_kept(
    client, admin, clerk, make_event, receiver, database_url
):
    hook, url = receiver
    created = await register_hook(admin, url, ["order.created"])
    event = await make_event(total_seats=10)
    sales = []
    for _ in range(3):
        sale = await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 1})
        assert sale.status == 201, sale.body
        sales.append(sale.data["id"])
    await hook.wait_for(lambda got: len(got) == 4)  # the ping and three orders
    path = f"/api/v1/webhooks/{created['id']}"
    assert (await admin.call("PATCH", path, json={"status": "paused"})).status == 200
    queued = await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 1})
    assert queued.status == 201, queued.body

    async def deliveries() -> list[dict]:
        return (await admin.get(f"{path}/deliveries")).data

    await until(
        deliveries, lambda ds: sorted(d["status"] for d in ds) == ["delivered"] * 4 + ["pending"]
    )
    # Aged 31 days: the ping and the first order delivered, the second failed for good,
    # the paused endpoint's order still pending. The third order is recent.
    with psycopg2.connect(database_url) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE webhook_deliveries SET delivered_at = now() - interval '31 days',"
            " created_at = now() - interval '31 days' WHERE subject IS NULL OR subject = %s",
            (f"order:{sales[0]}",),
        )
        cur.execute(
            "UPDATE webhook_deliveries SET status = 'failed', delivered_at = NULL,"
            " last_attempt_at = now() - interval '31 days',"
            " created_at = now() - interval '32 days' WHERE subject = %s",
            (f"order:{sales[1]}",),
        )
        cur.execute(
            "UPDATE webhook_deliveries SET created_at = now() - interval '60 days'"
            " WHERE status = 'pending'"
        )

    assert await client.app[keys.WEBHOOK_SENDER].purge() == 3
    kept = {d["subject"]: d["status"] for d in await deliveries()}
    assert kept == {f"order:{sales[2]}": "delivered", f"order:{queued.data['id']}": "pending"}


async def test_a_late_delivery_describes_its_change_not_the_orders_later_state(
    admin, clerk, make_event, receiver, db_rows
):
    """Paused while a hold is placed, paid and checked in, the endpoint then receives each
    change as the change left the order: the hold pending and without codes, the payment
    with them, and the check-in with the order as paid."""
    hook, url = receiver
    created = await register_hook(
        admin, url, ["order.created", "order.confirmed", "ticket.checked_in"]
    )
    await hook.wait_for(lambda got: len(got) == 1)  # the ping
    path = f"/api/v1/webhooks/{created['id']}"
    assert (await admin.call("PATCH", path, json={"status": "paused"})).status == 200
    event = await make_event(total_seats=5, price="12.50")
    hold = await clerk.post(
        "/api/v1/bookings",
        json={"event_id": event["id"], "quantity": 2, "hold": True, "customer_name": "Ms Lee"},
    )
    order = hold.data["id"]
    assert (await clerk.post(f"/api/v1/bookings/{order}/confirm", json={})).status == 200
    tickets = (await clerk.get(f"/api/v1/orders/{order}")).data["tickets"]
    checked = await clerk.post("/api/v1/checkins", json={"code": tickets[0]["code"]})
    assert checked.status == 200, checked.body
    # Queued as pointers to the audit records: no payload stored for an order's change.
    assert db_rows(
        "SELECT count(*) FROM webhook_deliveries WHERE audit_id IS NOT NULL AND payload IS NULL"
    ) == [(3,)]
    # What the admin lists is the payload as it will be sent.
    listed = (await admin.get(f"{path}/deliveries")).data
    assert listed[-2]["payload"]["type"] == "order.created"  # newest first, the ping last
    assert listed[-2]["payload"]["data"]["order"]["status"] == "pending"

    assert (await admin.call("PATCH", path, json={"status": "active"})).status == 200
    got = await hook.wait_for(lambda got: len(got) == 4)
    assert all(verifies(created["secret"], r) for r in got)
    created_, confirmed, admitted = (r.body for r in got[1:])
    assert [b["type"] for b in (created_, confirmed, admitted)] == [
        "order.created",
        "order.confirmed",
        "ticket.checked_in",
    ]
    held = created_["data"]["order"]
    assert held["status"] == "pending" and held["code"] is None
    assert held["customer_name"] == "Ms Lee" and held["amount"] == 25.00
    assert [t["code"] for t in held["tickets"]] == [None, None]
    paid = confirmed["data"]["order"]
    assert paid["status"] == "confirmed" and paid["expires_at"] is None
    assert [t["code"] for t in paid["tickets"]] == [t["code"] for t in tickets]
    at_gate = admitted["data"]
    assert at_gate["order"]["status"] == "confirmed" and at_gate["order"]["quantity"] == 2
    assert at_gate["change"]["ticket_ids"] == [tickets[0]["id"]]
    assert created_["created_at"] < confirmed["created_at"] < admitted["created_at"]


async def test_a_change_that_rolls_back_or_is_refused_sends_nothing(
    admin, clerk, make_event, receiver, database_url, db_rows
):
    hook, url = receiver
    created = await register_hook(admin, url, ["order.created", "event.created"])
    event = await make_event(total_seats=1)
    refused = await clerk.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 2})
    assert refused.status == 409
    conn = psycopg2.connect(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO audit_log (actor, action, event_id) VALUES ('t', 'event.create', %s)",
                (event["id"],),
            )
            cur.execute("SELECT count(*) FROM webhook_deliveries")
            written = cur.fetchone()[0]
        conn.rollback()
    finally:
        conn.close()
    assert written == 3  # ping, event.created, and the one that is rolled back
    assert db_rows("SELECT event_type FROM webhook_deliveries ORDER BY id") == [
        ("ping",),
        ("event.created",),
    ]
    got = await hook.wait_for(lambda got: len(got) == 2)
    assert [r.event_type for r in got] == ["ping", "event.created"]
    assert created["id"] == got[0].body["data"]["webhook_id"]


async def test_an_endpoint_failing_for_good_is_disabled_and_a_redelivery_sends_again(
    aiohttp_client, config, clean_db, receiver
):
    hook, url = receiver

    # Retries stop after a moment, and failing for good at once disables the endpoint.
    fast = config.replace(webhook_retry_seconds=0.3, webhook_disable_seconds=0)
    client = await aiohttp_client(create_app(fast))
    admin = await Actors(client).new("admin")
    hook.fail = 10_000
    created = await register_hook(admin, url, ["event.created"])
    path = f"/api/v1/webhooks/{created['id']}"

    async def endpoint() -> dict:
        return (await admin.get(path)).data

    disabled = await until(endpoint, lambda w: w["status"] == "disabled")
    assert disabled["failing_since"] is not None and disabled["disabled_at"] is not None
    [ping] = (await admin.get(f"{path}/deliveries")).data
    assert ping["status"] == "failed" and ping["last_status_code"] == 500
    assert ping["attempts"] >= 2 and "receiver down" in ping["last_error"]
    # Disabled: new changes are not queued for it; what it had is kept.
    await admin.post("/api/v1/events", json=event_body())
    assert len((await admin.get(f"{path}/deliveries")).data) == 1

    hook.fail = 0
    resumed = await admin.call("PATCH", path, json={"status": "active"})
    assert resumed.data["status"] == "active" and resumed.data["failing_since"] is None
    again = await admin.post(f"{path}/deliveries/{ping['id']}/redeliver")
    assert again.status == 200 and again.data["status"] == "pending"
    [got] = await hook.wait_for(lambda got: len(got) == 1)
    assert got.delivery_id == ping["delivery_id"] and verifies(created["secret"], got)
    assert (await admin.post(f"{path}/deliveries/999999/redeliver")).status == 404


# --- after a SIGKILL ---------------------------------------------------------------

BOOKINGS = 60


@pytest.fixture
def server(scratch_dsn, tmp_path):
    proc = ServerProcess(
        scratch_dsn,
        tmp_path,
        BOXOFFICE_WEBHOOK_TIMEOUT="1",
        BOXOFFICE_WEBHOOK_BACKOFF="0.05",
        BOXOFFICE_WEBHOOK_BACKOFF_MAX="0.2",
        BOXOFFICE_WEBHOOK_POLL_SECONDS="0.1",
    )
    yield proc
    proc.close()


async def test_after_a_server_sigkill_every_booking_is_delivered_once(
    server, scratch_dsn, receiver
):
    hook, url = receiver
    server.add_admin()
    server.start()
    await server.wait_ready()
    async with aiohttp.ClientSession() as http:
        admin = await login(http, server.url, ADMIN, PASSWORD)
        status, reply, _ = await request(
            http,
            "POST",
            server.url + "/api/v1/webhooks",
            admin,
            json={"url": url, "events": ["order.created"]},
        )
        assert status == 201, reply
        secret = reply["data"]["secret"]
        await hook.wait_for(lambda got: len(got) == 1)  # the ping
        event = await make_event(http, server.url, admin, BOOKINGS)
        # Deliveries hang, so the kill finds some in flight (claimed, not recorded).
        hook.hang = 5
        booked = []
        for _ in range(BOOKINGS):
            status, reply, _ = await request(
                http,
                "POST",
                server.url + "/api/v1/bookings",
                admin,
                json={"event_id": event, "quantity": 1, "payment_method": "card"},
            )
            assert status == 201, reply
            booked.append(reply["data"]["id"])
        await hook.wait_requests(3)
    server.signal(signal.SIGKILL)
    assert await server.wait_exit(within=10) == -signal.SIGKILL
    hook.release.set()  # the hanging requests end: their answers reach nobody
    in_flight = rows(
        scratch_dsn,
        "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND attempts > 0",
    )[0][0]

    server.start()
    await server.wait_ready()
    got = await hook.wait_for(lambda got: len(got) == 1 + BOOKINGS, within=30)
    assert sorted(r.body["data"]["order"]["id"] for r in got[1:]) == sorted(booked)
    assert all(verifies(secret, r) for r in got)
    # And the outbox knows: each recorded delivered (the last answers are being recorded).
    statuses = "SELECT status, count(*) FROM webhook_deliveries GROUP BY status"

    async def outbox() -> list[tuple]:
        return rows(scratch_dsn, statuses)

    await until(outbox, lambda found: found == [("delivered", 1 + BOOKINGS)])
    print(f"\n{in_flight} in flight at the kill, {hook.duplicates} duplicates dropped")


# --- the terminal's admin screen ----------------------------------------------------


async def test_admins_see_endpoints_and_deliveries_and_redeliver_in_the_terminal(
    tui, admin, receiver
):
    """F9: the endpoints, the highlighted one's deliveries with their last answer and
    error; ``d`` sends a failed delivery again, ``p`` pauses and resumes the endpoint."""
    hook, url = receiver
    hook.fail = 1_000
    created = await register_hook(admin, url, ["event.created"])
    path = f"/api/v1/webhooks/{created['id']}"

    async def ping_tried() -> dict:
        return (await admin.get(f"{path}/deliveries")).data[0]

    await until(ping_tried, lambda d: d["attempts"] >= 1 and d["last_status_code"] == 500)
    notices = Notices()
    async with running(tui(admin), notices=notices) as pilot:
        screen = await go_to(pilot, WebhooksScreen, "f9")
        endpoints = screen.query_one("#webhooks-table", DataTable)
        deliveries = screen.query_one("#deliveries-table", DataTable)
        await until_shown(pilot, lambda: deliveries.row_count == 1)
        assert url in str(endpoints.get_row_at(0)[0])
        row = [str(cell) for cell in deliveries.get_row_at(0)]
        assert row[1] == "ping" and "pending" in row[2] and row[4] == "500"

        await pilot.press("tab")
        detail = screen.query_one("#delivery-detail")
        await until_shown(pilot, lambda: "receiver down" in text(detail))
        hook.fail = 0
        await pilot.press("d")
        [got] = await hook.wait_for(lambda got: len(got) == 1)
        assert got.event_type == "ping" and verifies(created["secret"], got)
        await until_shown(pilot, lambda: "queued again" in " ".join(notices.messages))

        await pilot.press("shift+tab", "p")
        await until_shown(pilot, lambda: "paused" in str(endpoints.get_row_at(0)[1]))
        assert (await admin.get(path)).data["status"] == "paused"
        await pilot.press("p")
        await until_shown(pilot, lambda: "active" in str(endpoints.get_row_at(0)[1]))
