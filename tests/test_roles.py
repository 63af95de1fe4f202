"""Who may do what: every route of the API against every role, and who owns a booking."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from support import PASSWORD, call, event_body

from common.models import DeliveryQuery, TicketTypeCreate, WebhookCreate
from server.keys import API_TOKENS, AUTH, TICKET_TYPES, VENUES, WEBHOOKS
from server.openapi import ASSETS
from server.security import Principal
from server.venues import shipped_plan

V1 = "/api/v1"
BOOKINGS = f"{V1}/bookings"
ROLES = ["anonymous", "user", "clerk", "admin"]

ANYONE = frozenset(ROLES)
LOGGED_IN = frozenset({"user", "clerk", "admin"})
STAFF = frozenset({"clerk", "admin"})
ADMIN = frozenset({"admin"})

# (method, route as the router spells it) -> the roles that get through. Everyone else
# gets 401 when anonymous and 403 when logged in. HEAD follows the GET of its route.
RULES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): ANYONE,
    ("GET", "/docs"): ANYONE,
    ("GET", "/docs/plain"): ANYONE,
    ("GET", "/redoc"): ANYONE,
    ("GET", f"{V1}/openapi.json"): ANYONE,
    ("GET", "/healthz"): ANYONE,
    ("GET", "/readyz"): ANYONE,
    ("GET", "/metrics"): ANYONE,
    ("POST", f"{V1}/auth/register"): ANYONE,
    ("POST", f"{V1}/auth/login"): ANYONE,
    ("POST", f"{V1}/auth/refresh"): ANYONE,
    ("POST", f"{V1}/auth/logout"): ANYONE,
    ("GET", f"{V1}/auth/me"): LOGGED_IN,
    ("GET", f"{V1}/users"): ADMIN,
    ("POST", f"{V1}/users"): ADMIN,
    ("PATCH", f"{V1}/users/{{user_id}}"): ADMIN,
    ("DELETE", f"{V1}/users/{{user_id}}/sessions"): ADMIN,
    ("DELETE", f"{V1}/users/{{user_id}}/lockout"): ADMIN,
    ("GET", f"{V1}/events"): ANYONE,
    ("POST", f"{V1}/events"): ADMIN,
    ("GET", f"{V1}/events/available"): ANYONE,
    ("GET", f"{V1}/events/{{event_id}}"): ANYONE,
    ("GET", f"{V1}/events/{{event_id}}/seats"): ANYONE,
    ("GET", f"{V1}/events/{{event_id}}/ticket-types"): ANYONE,
    ("POST", f"{V1}/events/{{event_id}}/ticket-types"): ADMIN,
    ("PATCH", f"{V1}/events/{{event_id}}/ticket-types/{{type_id}}"): ADMIN,
    ("DELETE", f"{V1}/events/{{event_id}}/ticket-types/{{type_id}}"): ADMIN,
    ("PUT", f"{V1}/events/{{event_id}}"): ADMIN,
    ("PATCH", f"{V1}/events/{{event_id}}"): ADMIN,
    ("DELETE", f"{V1}/events/{{event_id}}"): ADMIN,
    ("GET", BOOKINGS): LOGGED_IN,
    ("POST", BOOKINGS): LOGGED_IN,
    ("GET", f"{BOOKINGS}/all"): ADMIN,
    ("GET", f"{BOOKINGS}/event/{{event_id}}"): STAFF,
    ("GET", f"{BOOKINGS}/{{booking_id}}"): LOGGED_IN,
    ("DELETE", f"{BOOKINGS}/{{booking_id}}"): LOGGED_IN,
    ("POST", f"{BOOKINGS}/{{booking_id}}/confirm"): LOGGED_IN,
    ("POST", f"{V1}/orders"): LOGGED_IN,
    ("GET", f"{V1}/orders/{{order_id}}"): LOGGED_IN,
    ("POST", f"{V1}/orders/{{order_id}}/returns"): LOGGED_IN,
    ("GET", f"{V1}/venues"): ANYONE,
    ("POST", f"{V1}/venues"): ADMIN,
    ("GET", f"{V1}/venues/{{venue_id}}"): ANYONE,
    ("GET", f"{V1}/venues/{{venue_id}}/seats"): ANYONE,
    ("PUT", f"{V1}/venues/{{venue_id}}"): ADMIN,
    ("DELETE", f"{V1}/venues/{{venue_id}}"): ADMIN,
    ("POST", f"{V1}/checkins"): STAFF,
    ("GET", f"{BOOKINGS}/{{booking_id}}/ticket"): LOGGED_IN,
    ("GET", f"{V1}/reports/shift"): STAFF,
    ("GET", f"{V1}/events/{{event_id}}/sales"): ADMIN,
    ("GET", f"{V1}/reports/zones"): ADMIN,
    ("GET", f"{V1}/reports/recent-sales"): ADMIN,
    ("GET", f"{V1}/audit"): ADMIN,
    ("GET", f"{V1}/tokens"): ADMIN,
    ("POST", f"{V1}/tokens"): ADMIN,
    ("DELETE", f"{V1}/tokens/{{token_id}}"): ADMIN,
    ("GET", f"{V1}/ws"): LOGGED_IN,
    ("POST", f"{V1}/orders/{{order_id}}/prints"): STAFF,
    ("GET", f"{V1}/webhooks"): ADMIN,
    ("POST", f"{V1}/webhooks"): ADMIN,
    ("GET", f"{V1}/webhooks/{{webhook_id}}"): ADMIN,
    ("PATCH", f"{V1}/webhooks/{{webhook_id}}"): ADMIN,
    ("DELETE", f"{V1}/webhooks/{{webhook_id}}"): ADMIN,
    ("GET", f"{V1}/webhooks/{{webhook_id}}/deliveries"): ADMIN,
    ("POST", f"{V1}/webhooks/{{webhook_id}}/deliveries/{{delivery_id}}/redeliver"): ADMIN,
}

# Websockets answer with a first message or a close code, not an HTTP status.
WEBSOCKETS = {f"{V1}/ws"}

# Routes whose answer is not the JSON envelope.
NOT_ENVELOPED = {
    "/docs",
    "/docs/plain",
    "/redoc",
    f"{V1}/openapi.json",
    f"{BOOKINGS}/{{booking_id}}/ticket",
    "/metrics",
}


def rule_for(method: str, route: str) -> frozenset[str] | None:
    if method == "HEAD":
        method = "GET"
    return RULES.get((method, route))


def app_routes(client: Any) -> list[tuple[str, str]]:
    """Every route but the explorer's files (Swagger UI's and Redoc's, open to anyone)."""
    routes = client.server.app.router.routes()
    return [
        (r.method, r.resource.canonical)
        for r in routes
        if not r.resource.canonical.startswith(ASSETS)
    ]


class Requests:
    """Builds a valid request for any route, so that a caller who is let through gets a 2xx.

    Ids in the path are fresh events and fresh bookings of ``owner``; bodies are valid.
    """

    def __init__(self, client: Any, make_event: Any, owner: Any) -> None:
        self.client = client
        self.make_event = make_event
        self.owner = owner
        self._n = itertools.count(1)
        self._tickets: list[int] = []  # the tickets of the order a path names

    async def build(self, method: str, route: str) -> tuple[str, Any]:
        path = route
        if "{event_id}" in path:
            # A seat map is a seated event's: the studio's plan.
            seated = route.endswith("/seats")
            venue = {"total_seats": None, "venue_id": await self._venue()} if seated else {}
            event = await self.make_event(**venue)
            path = path.replace("{event_id}", str(event["id"]))
            if "{type_id}" in path:
                path = path.replace("{type_id}", str(await self._ticket_type(event["id"])))
        if "{booking_id}" in path:
            hold = route.endswith("/confirm")  # only a hold can be confirmed
            path = path.replace("{booking_id}", str((await self._booking(hold=hold))["id"]))
        if "{order_id}" in path:
            order = await self._order()
            self._tickets = [t["id"] for t in order["tickets"]]
            path = path.replace("{order_id}", str(order["id"]))
        if "{token_id}" in path:
            path = path.replace("{token_id}", str(await self._api_token()))
        if "{venue_id}" in path:
            path = path.replace("{venue_id}", str(await self._venue()))
        if "{user_id}" in path:
            path = path.replace("{user_id}", str(await self._account()))
        if "{webhook_id}" in path:
            webhook_id, delivery_id = await self._webhook()
            path = path.replace("{webhook_id}", str(webhook_id))
            path = path.replace("{delivery_id}", str(delivery_id))
        return path, await self._body(method, route)

    async def _webhook(self) -> tuple[int, int]:
        """A fresh webhook endpoint's id and its first delivery's (the ping), made
        server-side."""
        signer = Principal(self.owner.user_id, self.owner.username, self.owner.role)
        hooks = self.client.server.app[WEBHOOKS]
        url = f"http://127.0.0.1:9/hook{next(self._n)}"
        body = WebhookCreate(url=url, events=["order.created"])
        row, _ = await hooks.create(signer, body)
        [ping] = await hooks.deliveries(row["id"], DeliveryQuery())
        return row["id"], ping["id"]

    async def _api_token(self) -> int:
        """A fresh integration token's id, issued server-side (signed by ``owner``)."""
        signer = Principal(self.owner.user_id, self.owner.username, self.owner.role)
        row, _ = await self.client.server.app[API_TOKENS].issue(signer, "matrix", "user")
        return row["id"]

    async def _ticket_type(self, event_id: int) -> int:
        """A fresh ticket type of the event (not its default: that one cannot be deleted)."""
        signer = Principal(self.owner.user_id, self.owner.username, self.owner.role)
        body = TicketTypeCreate(name=f"Type {next(self._n)}", price=Decimal("5.00"))
        row = await self.client.server.app[TICKET_TYPES].create(event_id, body, by=signer)
        return row["id"]

    async def _venue(self) -> int:
        """A fresh venue's id (the studio's plan), made server-side."""
        signer = Principal(self.owner.user_id, self.owner.username, self.owner.role)
        row = await self.client.server.app[VENUES].create(shipped_plan("studio"), by=signer)
        return row["id"]

    async def _account(self) -> int:
        """A fresh account's id (a user), made server-side."""
        auth = self.client.server.app[AUTH]
        row = await auth.create_user(f"member{next(self._n)}", PASSWORD, "user")
        return row["id"]

    async def _booking(self, *, hold: bool = False) -> dict[str, Any]:
        # A free event: the owner may confirm its hold and has a ticket whatever the role
        # (who may sell a priced event is test_selling.py's).
        event = await self.make_event(price="0.00")
        reply = await self.owner.post(BOOKINGS, json={"event_id": event["id"], "hold": hold})
        assert reply.status == 201, reply.body
        return reply.data

    async def _order(self) -> dict[str, Any]:
        """The owner's order of a free event, with its tickets."""
        event = await self.make_event(price="0.00")
        body = {"event_id": event["id"], "lines": [{"quantity": 1}]}
        reply = await self.owner.post(f"{V1}/orders", json=body)
        assert reply.status == 201, reply.body
        return reply.data

    async def _fresh_refresh_token(self) -> str:
        body = {"username": self.owner.username, "password": PASSWORD}
        reply = await call(self.client, "POST", f"{V1}/auth/login", json=body)
        return reply.data["refresh_token"]

    async def _body(self, method: str, route: str) -> Any:
        n = next(self._n)
        if (method, route) == ("POST", f"{V1}/auth/register"):
            return {"username": f"newcomer{n}", "password": PASSWORD}
        if (method, route) == ("POST", f"{V1}/auth/login"):
            return {"username": self.owner.username, "password": PASSWORD}
        if (method, route) in {("POST", f"{V1}/auth/refresh"), ("POST", f"{V1}/auth/logout")}:
            return {"refresh_token": await self._fresh_refresh_token()}
        if (method, route) == ("POST", f"{V1}/users"):
            return {"username": f"staff{n}", "password": PASSWORD, "role": "clerk"}
        if (method, route) in {("POST", f"{V1}/events"), ("PUT", f"{V1}/events/{{event_id}}")}:
            return event_body(title=f"Event {n}")
        if (method, route) == ("PATCH", f"{V1}/events/{{event_id}}"):
            return {"title": f"Renamed {n}"}
        if (method, route) == ("POST", f"{BOOKINGS}/{{booking_id}}/confirm"):
            return {}  # payment_method is a staff field
        if (method, route) == ("POST", f"{V1}/checkins"):
            return {"code": (await self._booking())["ticket_code"]}
        if (method, route) == ("POST", f"{V1}/events/{{event_id}}/ticket-types"):
            return {"name": f"Concession {n}", "price": "7.50"}
        if (method, route) == ("PATCH", f"{V1}/events/{{event_id}}/ticket-types/{{type_id}}"):
            return {"on_sale": False}
        if (method, route) == ("POST", f"{V1}/orders"):
            return {"event_id": (await self.make_event())["id"], "lines": [{"quantity": 1}]}
        if (method, route) == ("POST", f"{V1}/orders/{{order_id}}/returns"):
            return {"ticket_ids": self._tickets}
        if (method, route) == ("POST", BOOKINGS):
            return {"event_id": (await self.make_event())["id"], "quantity": 1}
        if (method, route) in {("POST", f"{V1}/venues"), ("PUT", f"{V1}/venues/{{venue_id}}")}:
            return shipped_plan("studio").model_dump(mode="json", exclude_none=True)
        if (method, route) == ("PATCH", f"{V1}/users/{{user_id}}"):
            return {"role": "clerk"}
        if (method, route) == ("POST", f"{V1}/tokens"):
            return {"name": f"partner {n}", "role": "user"}
        if (method, route) == ("POST", f"{V1}/orders/{{order_id}}/prints"):
            return {"what": "receipt"}
        if (method, route) in {
            ("POST", f"{V1}/webhooks"),
            ("PATCH", f"{V1}/webhooks/{{webhook_id}}"),
        }:
            return {"url": f"https://partner.example/hooks/{n}", "events": ["order.created"]}
        return None


async def send(
    client: Any, method: str, path: str, token: str | None, body: Any, route: str = ""
) -> tuple:
    """(status, headers) of one request; envelope routes go through ``call``'s checks."""
    if method == "HEAD" or path in NOT_ENVELOPED or route in NOT_ENVELOPED:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with client.request(method, path, headers=headers, json=body) as resp:
            assert resp.status != 500, (method, path)
            return resp.status, resp.headers
    reply = await call(client, method, path, token=token, json=body)
    return reply.status, reply.headers


async def test_every_rule_names_a_real_route(client):
    """The table has no stale entries: each one is a route the server really has."""
    assert set(RULES) - set(app_routes(client)) == set()


async def websocket_lets_in(client: Any, route: str, actor: Any, allowed: bool) -> bool:
    """Allowed callers get the hello message; others a 4401 close."""
    headers = {"Authorization": f"Bearer {actor.token}"} if actor else {}
    async with client.ws_connect(route, headers=headers) as ws:
        msg = await ws.receive(timeout=5)
        if allowed:
            return msg.type == aiohttp.WSMsgType.TEXT and msg.json()["type"] == "hello"
        return msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401


@pytest.mark.parametrize("role", ROLES)
async def test_permission_matrix(client, actors, make_event, role):
    """Every route lets exactly the roles in RULES through; others get 401 or 403."""
    actor = None if role == "anonymous" else await actors.new(role)
    requests = Requests(client, make_event, owner=actor or await actors.new("user"))
    wrong = []
    for method, route in app_routes(client):
        allowed = rule_for(method, route)
        if allowed is None:
            wrong.append(f"{method} {route}: no entry in RULES")
            continue
        if route in WEBSOCKETS:
            if method == "GET" and not await websocket_lets_in(
                client, route, actor, role in allowed
            ):
                wrong.append(f"{method} {route}: {role} was not treated as {sorted(allowed)}")
            continue
        path, body = await requests.build(method, route)
        status, headers = await send(client, method, path, actor and actor.token, body, route)
        if role in allowed:
            expected, passed = "2xx", 200 <= status < 300
        elif actor is None:
            expected = "401 with WWW-Authenticate: Bearer"
            passed = status == 401 and headers.get("WWW-Authenticate") == "Bearer"
        else:
            expected, passed = "403", status == 403
        if not passed:
            wrong.append(f"{method} {route}: {role} got {status}, expected {expected}")
    assert not wrong, "\n".join(wrong)


# --- ownership -----------------------------------------------------------------


async def book(actor: Any, event: dict[str, Any], quantity: int = 1) -> dict[str, Any]:
    reply = await actor.post(BOOKINGS, json={"event_id": event["id"], "quantity": quantity})
    assert reply.status == 201, reply.body
    return reply.data


async def test_user_cannot_read_or_cancel_another_users_booking(actors, make_event):
    """Another user's booking is a 404 to read and to cancel, and it stays confirmed."""
    owner, other = await actors.new("user"), await actors.new("user")
    event = await make_event(total_seats=10, price="0.00")  # a free event's booking: a sale
    url = f"{BOOKINGS}/{(await book(owner, event, 2))['id']}"
    assert (await other.get(url)).status == 404
    assert (await other.delete(url)).status == 404
    assert (await owner.get(url)).data["status"] == "confirmed"
    assert (await owner.get(f"{V1}/events/{event['id']}")).data["available_seats"] == 8


@pytest.mark.parametrize("role", ["clerk", "admin"])
async def test_staff_read_and_cancel_any_booking(actors, make_event, role):
    """Clerks and admins read and cancel a user's booking, and its seats come back."""
    owner, staff = await actors.new("user"), await actors.new(role)
    event = await make_event(total_seats=10)
    url = f"{BOOKINGS}/{(await book(owner, event, 3))['id']}"
    seen = await staff.get(url)
    assert seen.status == 200
    assert seen.data["user_id"] == owner.user_id
    cancelled = await staff.delete(url)
    assert cancelled.status == 200
    assert cancelled.data["available_seats"] == 10
    assert (await owner.get(url)).data["status"] == "cancelled"


@pytest.mark.parametrize("role", ["user", "clerk", "admin"])
async def test_booking_list_shows_only_your_own(actors, make_event, role):
    """GET /bookings lists the caller's own bookings and nobody else's."""
    me, other = await actors.new(role), await actors.new("user")
    event = await make_event()
    mine = {(await book(me, event))["id"], (await book(me, event))["id"]}
    await book(other, event)
    listed = await me.get(BOOKINGS)
    assert listed.status == 200
    assert {b["id"] for b in listed.data} == mine


async def test_staff_see_every_booking_of_an_event(actors, clerk, admin, make_event):
    """A clerk's event listing and an admin's full listing include every user's bookings."""
    alice, bob = await actors.new("user"), await actors.new("user")
    event = await make_event()
    ids = {(await book(alice, event))["id"], (await book(bob, event))["id"]}
    by_event = await clerk.get(f"{BOOKINGS}/event/{event['id']}")
    assert {b["id"] for b in by_event.data} == ids
    assert {b["id"] for b in (await admin.get(f"{BOOKINGS}/all")).data} == ids


@pytest.mark.parametrize("role", ["user", "clerk"])
async def test_refused_event_changes_change_nothing(client, actors, make_event, role):
    """A 403 on creating, editing or deleting events leaves the events as they were."""
    actor = await actors.new(role)
    event = await make_event()
    url = f"{V1}/events/{event['id']}"
    assert (await actor.post(f"{V1}/events", json=event_body())).status == 403
    assert (await actor.call("PUT", url, json=event_body(title="Mine now"))).status == 403
    assert (await actor.call("PATCH", url, json={"title": "Mine now"})).status == 403
    assert (await actor.delete(url)).status == 403
    assert (await call(client, "GET", f"{V1}/events")).data == [event]
