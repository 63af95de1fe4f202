"""The audit log: every state change leaves exactly one record, written with the change.

Records are read back through GET /api/v1/audit, the admins' view of the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg2
import pytest
from jsonschema import Draft202012Validator
from support import PASSWORD, call, event_body
from test_cli import boxoffice_async

V1 = "/api/v1"
AUDIT = f"{V1}/audit"
REGISTER = f"{V1}/auth/register"
BOOKINGS = f"{V1}/bookings"
EVENTS = f"{V1}/events"
LOCAL = "127.0.0.1"


def last_id(db_rows: Any) -> int:
    [(n,)] = db_rows("SELECT coalesce(max(id), 0) FROM audit_log")
    return n


async def audit(admin: Any, **filters: Any) -> list[dict[str, Any]]:
    reply = await admin.get(AUDIT, params={"limit": 500, **filters})
    assert reply.status == 200, reply.body
    return reply.data


async def records_since(admin: Any, mark: int) -> list[dict[str, Any]]:
    return [r for r in await audit(admin) if r["id"] > mark]


async def one_record(admin: Any, mark: int) -> dict[str, Any]:
    """The single record written since ``mark``."""
    found = await records_since(admin, mark)
    assert len(found) == 1, found
    return found[0]


def signed_by(record: dict[str, Any], actor: Any) -> None:
    assert record["actor"] == actor.username, record
    assert record["actor_id"] == actor.user_id, record
    assert record["source"] == LOCAL, record


async def book(actor: Any, event_id: int, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    reply = await actor.post(BOOKINGS, json={"event_id": event_id, "quantity": quantity, **extra})
    assert reply.status == 201, reply.body
    return reply.data


# --- bookings ------------------------------------------------------------------------


async def test_a_booking_leaves_one_record(admin, clerk, make_event, db_rows):
    """booking.create: by the seller, about the event and the booking, with what was sold."""
    event = await make_event(price="12.50")
    mark = last_id(db_rows)
    booking = await book(clerk, event["id"], 2)
    record = await one_record(admin, mark)
    signed_by(record, clerk)
    assert record["action"] == "booking.create"
    assert (record["event_id"], record["booking_id"]) == (event["id"], booking["id"])
    assert record["details"] == {
        "quantity": 2,
        "customer_name": None,
        "payment_method": None,
        "amount": 25.0,
        "status": "confirmed",
    }
    assert datetime.fromisoformat(record["at"]).tzinfo is not None


async def test_a_cancel_leaves_one_record(admin, user, clerk, make_event, db_rows):
    """booking.cancel, by whoever cancelled: the owner, or staff for a customer."""
    event = await make_event()
    mine, theirs = await book(user, event["id"]), await book(user, event["id"], 3)
    mark = last_id(db_rows)
    assert (await user.delete(f"{BOOKINGS}/{mine['id']}")).status == 200
    record = await one_record(admin, mark)
    signed_by(record, user)
    assert (record["action"], record["booking_id"]) == ("booking.cancel", mine["id"])
    assert record["details"]["status"] == "cancelled"

    mark = last_id(db_rows)
    assert (await clerk.delete(f"{BOOKINGS}/{theirs['id']}")).status == 200
    record = await one_record(admin, mark)
    signed_by(record, clerk)
    assert (record["action"], record["booking_id"]) == ("booking.cancel", theirs["id"])
    assert record["details"]["quantity"] == 3


async def test_a_return_leaves_one_record_found_by_its_action(admin, clerk, make_event, db_rows):
    """booking.return: by whoever returned, with the tickets, the refund and its method;
    browsed by its action, by its kind (booking) and by the booking."""
    event = await make_event(price="30.00")
    reply = await clerk.post(
        f"{V1}/orders",
        json={"event_id": event["id"], "lines": [{"quantity": 3}], "payment_method": "card"},
    )
    assert reply.status == 201, reply.body
    order, ticket = reply.data, reply.data["tickets"][0]
    mark = last_id(db_rows)
    back = await clerk.post(
        f"{V1}/orders/{order['id']}/returns",
        json={"ticket_ids": [ticket["id"]], "payment_method": "cash"},
    )
    assert back.status == 200, back.body
    record = await one_record(admin, mark)
    signed_by(record, clerk)
    assert (record["action"], record["booking_id"]) == ("booking.return", order["id"])
    assert record["details"]["ticket_ids"] == [ticket["id"]]
    assert (record["details"]["refund"], record["details"]["refund_method"]) == (30.0, "cash")
    assert (record["details"]["quantity"], record["details"]["status"]) == (2, "confirmed")
    assert await audit(admin, action="booking.return") == [record]
    assert record in await audit(admin, action="booking")
    actions = [r["action"] for r in await audit(admin, booking_id=order["id"])]
    assert actions == ["booking.return", "booking.create"]


async def test_a_hold_and_its_confirmation_leave_one_record_each(
    admin, user, clerk, make_event, db_rows
):
    """booking.hold by the customer, then booking.confirm by the clerk who took payment."""
    event = await make_event()
    mark = last_id(db_rows)
    hold = await book(user, event["id"], 2, hold=True)
    record = await one_record(admin, mark)
    signed_by(record, user)
    assert (record["action"], record["booking_id"]) == ("booking.hold", hold["id"])
    assert record["details"]["status"] == "pending"

    mark = last_id(db_rows)
    confirmed = await clerk.post(
        f"{BOOKINGS}/{hold['id']}/confirm", json={"payment_method": "card"}
    )
    assert confirmed.status == 200, confirmed.body
    record = await one_record(admin, mark)
    signed_by(record, clerk)
    assert (record["action"], record["booking_id"]) == ("booking.confirm", hold["id"])
    assert record["event_id"] == event["id"]
    assert record["details"]["status"] == "confirmed"
    assert record["details"]["payment_method"] == "card"


# --- events --------------------------------------------------------------------------


async def test_creating_an_event_leaves_one_record(admin, db_rows):
    """event.create: by the admin, with the fields the event was created with."""
    mark = last_id(db_rows)
    created = await admin.post(EVENTS, json=event_body(title="Audited", price="30.00"))
    assert created.status == 201
    record = await one_record(admin, mark)
    signed_by(record, admin)
    assert (record["action"], record["event_id"]) == ("event.create", created.data["id"])
    assert record["booking_id"] is None and record["user_id"] is None
    details = record["details"]
    assert datetime.fromisoformat(details.pop("date")) == datetime.fromisoformat(
        event_body()["date"]
    )
    assert details == {
        "title": "Audited",
        "description": "A night of tests",
        "venue": "Loopback Hall",
        "total_seats": 100,
        "price": 30.0,
        "venue_id": None,  # general admission
    }


async def test_a_patch_records_what_changed_before_and_after(admin, user, make_event, db_rows):
    """event.update holds only the changed fields, as they were and as they are now; a new
    total moves the available seats too."""
    event = await make_event(total_seats=10)
    await book(user, event["id"], 3)
    mark = last_id(db_rows)
    url = f"{EVENTS}/{event['id']}"
    patched = await admin.call(
        "PATCH", url, json={"title": "Renamed", "total_seats": 20, "venue": "Loopback Hall"}
    )
    assert patched.status == 200, patched.body
    record = await one_record(admin, mark)
    signed_by(record, admin)
    assert (record["action"], record["event_id"]) == ("event.update", event["id"])
    assert record["details"] == {
        "before": {"title": "Test Concert", "total_seats": 10, "available_seats": 7},
        "after": {"title": "Renamed", "total_seats": 20, "available_seats": 17},
    }

    mark = last_id(db_rows)
    assert (await admin.call("PATCH", url, json={"description": None})).status == 200
    record = await one_record(admin, mark)
    assert record["details"] == {
        "before": {"description": "A night of tests"},
        "after": {"description": None},
    }


async def test_a_put_records_only_the_fields_it_changed(admin, make_event, db_rows):
    """A PUT sends every field; the record names only those whose value changed."""
    event = await make_event()
    mark = last_id(db_rows)
    url = f"{EVENTS}/{event['id']}"
    replaced = await admin.call("PUT", url, json=event_body(price="26.50"))
    assert replaced.status == 200, replaced.body
    record = await one_record(admin, mark)
    assert record["action"] == "event.update"
    assert record["details"] == {"before": {"price": 25.0}, "after": {"price": 26.5}}


async def test_an_empty_patch_changes_and_records_nothing(admin, make_event, db_rows):
    event = await make_event()
    mark = last_id(db_rows)
    assert (await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={})).status == 200
    assert await records_since(admin, mark) == []


async def test_deleting_an_event_leaves_one_record(admin, make_event, db_rows):
    """event.delete keeps what the event was, since the event itself is gone."""
    event = await make_event(title="Doomed", total_seats=7)
    mark = last_id(db_rows)
    assert (await admin.delete(f"{EVENTS}/{event['id']}")).status == 200
    record = await one_record(admin, mark)
    signed_by(record, admin)
    assert (record["action"], record["event_id"]) == ("event.delete", event["id"])
    assert record["details"]["title"] == "Doomed"
    assert record["details"]["total_seats"] == record["details"]["available_seats"] == 7
    # The record outlives the event.
    assert [r["action"] for r in await audit(admin, event_id=event["id"])] == [
        "event.delete",
        "event.create",
    ]


async def test_an_edit_racing_bookings_records_the_seats_it_really_moved(
    admin, actors, make_event, db_rows
):
    """The record's before is the row as the edit found it after waiting for its lock,
    so before and after move by the same amount however bookings interleave."""
    event = await make_event(total_seats=50)
    buyers = [await actors.new("user") for _ in range(8)]
    url = f"{EVENTS}/{event['id']}"
    results = await asyncio.gather(
        *(b.post(BOOKINGS, json={"event_id": event["id"], "quantity": 2}) for b in buyers),
        admin.call("PATCH", url, json={"total_seats": 60}),
    )
    assert all(r.status in (200, 201) for r in results), [r.body for r in results]
    [record] = await audit(admin, event_id=event["id"], action="event.update")
    before, after = record["details"]["before"], record["details"]["after"]
    assert (before["total_seats"], after["total_seats"]) == (50, 60)
    assert after["available_seats"] - before["available_seats"] == 10


# --- accounts ------------------------------------------------------------------------


async def test_an_admin_creating_an_account_leaves_one_record(admin, db_rows):
    """user.create: by the admin, about the new account."""
    mark = last_id(db_rows)
    body = {"username": "newclerk", "password": PASSWORD, "role": "clerk"}
    created = await admin.post(f"{V1}/users", json=body)
    assert created.status == 201
    record = await one_record(admin, mark)
    signed_by(record, admin)
    assert (record["action"], record["user_id"]) == ("user.create", created.data["id"])
    assert record["details"] == {"username": "newclerk", "role": "clerk"}


async def test_a_registration_is_signed_by_the_new_account(client, admin, db_rows):
    """Self-registration: the new account is its own actor, from the client's address."""
    mark = last_id(db_rows)
    body = {"username": "newcomer", "password": PASSWORD}
    created = await call(client, "POST", REGISTER, json=body)
    assert created.status == 201
    record = await one_record(admin, mark)
    new_id = created.data["id"]
    assert (record["action"], record["user_id"], record["actor_id"]) == (
        "user.create",
        new_id,
        new_id,
    )
    assert (record["actor"], record["source"]) == ("newcomer", LOCAL)
    assert record["details"] == {"username": "newcomer", "role": "user"}


async def test_the_command_line_signs_as_cli(admin, database_url, db_rows):
    """`boxoffice user add` has no request: actor 'cli', source the OS user and host."""
    mark = last_id(db_rows)
    done = await boxoffice_async(
        "user", "add", "cliboss", "--role", "admin", "--database-url", database_url,
        stdin="a long enough password\n",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = await one_record(admin, mark)
    assert (record["action"], record["actor"], record["actor_id"]) == ("user.create", "cli", None)
    assert record["source"].endswith("@" + socket.gethostname())
    [(new_id,)] = db_rows("SELECT id FROM users WHERE username = 'cliboss'")
    assert record["user_id"] == new_id
    assert record["details"] == {"username": "cliboss", "role": "admin"}


# --- refusals write nothing ------------------------------------------------------------


async def test_refused_changes_write_no_record(client, admin, user, clerk, make_event, db_rows):
    """Sold out, not found, conflicts, forbidden, invalid: no change, so no record."""
    event = await make_event(total_seats=2, price="0.00")  # a user's booking is a sale
    booking = await book(user, event["id"], 2)
    await user.delete(f"{BOOKINGS}/{booking['id']}")
    sold = await book(user, event["id"], 2)
    mark = last_id(db_rows)
    ev = f"{EVENTS}/{event['id']}"
    refusals = [
        (await user.post(BOOKINGS, json={"event_id": event["id"]}), 409),  # sold out
        (await user.post(BOOKINGS, json={"event_id": 999999}), 404),
        (await user.post(BOOKINGS, json={"event_id": event["id"], "quantity": 0}), 422),
        (await user.delete(f"{BOOKINGS}/{booking['id']}"), 409),  # already cancelled
        (await user.post(f"{BOOKINGS}/{sold['id']}/confirm", json={}), 409),  # not a hold
        (await user.post(BOOKINGS, json={"event_id": event["id"], "payment_method": "cash"}), 403),
        (await clerk.post(f"{V1}/checkins", json={"code": "0" * 32}), 404),
        (await admin.call("PATCH", ev, json={"total_seats": 1}), 409),  # below the sold
        (await admin.call("PATCH", f"{EVENTS}/999999", json={"title": "x"}), 404),
        (await admin.call("PUT", ev, json=event_body(total_seats=1)), 409),
        (await admin.delete(ev), 409),  # active bookings
        (await admin.delete(f"{EVENTS}/999999"), 404),
        (await admin.post(EVENTS, json=event_body(total_seats=0)), 422),
        (await user.post(EVENTS, json=event_body()), 403),
        (await clerk.call("PATCH", ev, json={"title": "x"}), 403),
        (await clerk.delete(ev), 403),
        (await call(client, "POST", EVENTS, json=event_body()), 401),
        (await admin.post(f"{V1}/users", json={**_account(user.username), "role": "user"}), 409),
        (await call(client, "POST", REGISTER, json=_account(admin.username.upper())), 409),
        (await clerk.post(f"{V1}/users", json={**_account("sneaky"), "role": "admin"}), 403),
    ]
    assert [status for reply, status in refusals] == [reply.status for reply, _ in refusals]
    assert await records_since(admin, mark) == []


def _account(name: str) -> dict[str, str]:
    return {"username": name, "password": PASSWORD}


# --- the record is written with the change -----------------------------------------------


@contextlib.contextmanager
def audit_refuses(database_url: str, action: str) -> Iterator[None]:
    """While inside, writing a record of ``action`` fails (a CHECK on audit_log)."""
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(
                "ALTER TABLE audit_log ADD CONSTRAINT test_refuse CHECK (action <> %s) NOT VALID",
                (action,),
            )
        try:
            yield
        finally:
            with conn.cursor() as cur:
                cur.execute("ALTER TABLE audit_log DROP CONSTRAINT test_refuse")
    finally:
        conn.close()


async def status_of(actor: Any, method: str, path: str, **kwargs: Any) -> int:
    """A request whose answer may be a 500 (which ``call`` refuses)."""
    headers = {"Authorization": f"Bearer {actor.token}"}
    async with actor.client.request(method, path, headers=headers, **kwargs) as resp:
        return resp.status


def snapshot(db_rows: Any) -> tuple[Any, ...]:
    """Everything a change could touch, besides the audit log."""
    return (
        db_rows("SELECT id, title, description, total_seats, available_seats, version "
                "FROM events ORDER BY id"),
        db_rows("SELECT id, status, quantity FROM bookings ORDER BY id"),
        db_rows("SELECT id, username, role FROM users ORDER BY id"),
    )  # fmt: skip


@pytest.mark.parametrize(
    "action",
    [
        "event.create",
        "event.update",
        "event.delete",
        "user.create",
        "booking.create",
        "booking.cancel",
    ],
)
async def test_a_change_whose_record_fails_is_rolled_back(
    admin, user, make_event, database_url, db_rows, action
):
    """When its record cannot be written the change does not happen either: the record is
    part of the same statement (or transaction) as the change."""
    # A free event: the user's booking is a sale (booking.create), not a hold.
    event, spare = await make_event(total_seats=5, price="0.00"), await make_event()
    booking = await book(user, event["id"], 2)
    ev = f"{EVENTS}/{event['id']}"
    request: tuple[str, str, dict[str, Any]] = {
        "event.create": ("POST", EVENTS, {"json": event_body()}),
        "event.update": ("PATCH", ev, {"json": {"title": "Renamed", "total_seats": 9}}),
        "event.delete": ("DELETE", f"{EVENTS}/{spare['id']}", {}),
        "user.create": ("POST", f"{V1}/users", {"json": {**_account("ghost"), "role": "user"}}),
        "booking.create": ("POST", BOOKINGS, {"json": {"event_id": event["id"]}}),
        "booking.cancel": ("DELETE", f"{BOOKINGS}/{booking['id']}", {}),
    }[action]
    method, path, kwargs = request
    before, mark = snapshot(db_rows), last_id(db_rows)
    actor = user if action.startswith("booking.") else admin
    with audit_refuses(database_url, action):
        assert await status_of(actor, method, path, **kwargs) == 500
    assert snapshot(db_rows) == before
    assert await records_since(admin, mark) == []
    # And once the record can be written, the same request succeeds with its record.
    assert await status_of(actor, method, path, **kwargs) in (200, 201)
    assert [r["action"] for r in await records_since(admin, mark)] == [action]


# --- browsing ----------------------------------------------------------------------------


async def test_filters_narrow_and_combine(admin, actors, make_event, db_rows):
    """By event, booking, actor, account and action; several at once; newest first."""
    alice, bob = await actors.new("user"), await actors.new("user")
    # Free events: the users' bookings are sales (booking.create), not holds.
    one, two = await make_event(title="One", price="0"), await make_event(title="Two", price="0")
    a1 = await book(alice, one["id"])
    b1 = await book(bob, one["id"])
    a2 = await book(alice, two["id"])
    await alice.delete(f"{BOOKINGS}/{a1['id']}")

    everything = await audit(admin)
    ids = [r["id"] for r in everything]
    assert ids == sorted(ids, reverse=True), "newest first"

    def shape(records: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
        return [(r["action"], r["booking_id"]) for r in records]

    assert shape(await audit(admin, event_id=one["id"])) == [
        ("booking.cancel", a1["id"]),
        ("booking.create", b1["id"]),
        ("booking.create", a1["id"]),
        ("event.create", None),
    ]
    assert shape(await audit(admin, booking_id=a1["id"])) == [
        ("booking.cancel", a1["id"]),
        ("booking.create", a1["id"]),
    ]
    assert shape(await audit(admin, actor_id=alice.user_id)) == [
        ("booking.cancel", a1["id"]),
        ("booking.create", a2["id"]),
        ("booking.create", a1["id"]),
    ]
    assert shape(await audit(admin, actor_id=alice.user_id, event_id=two["id"])) == [
        ("booking.create", a2["id"]),
    ]
    assert shape(await audit(admin, action="booking.cancel")) == [("booking.cancel", a1["id"])]
    assert shape(await audit(admin, action="booking", event_id=one["id"])) == [
        ("booking.cancel", a1["id"]),
        ("booking.create", b1["id"]),
        ("booking.create", a1["id"]),
    ]
    assert {r["event_id"] for r in await audit(admin, action="event")} == {one["id"], two["id"]}
    assert await audit(admin, event_id=one["id"], booking_id=a2["id"]) == []

    page = await audit(admin, event_id=one["id"], skip=1, limit=2)
    assert shape(page) == [("booking.create", b1["id"]), ("booking.create", a1["id"])]


async def test_user_id_matches_records_about_the_account_or_made_by_it(admin, make_event):
    """user_id finds the account's creation and what staff did to its bookings (about it)
    and its bookings (by it); actor_id only the latter."""
    created = await admin.post(f"{V1}/users", json={**_account("carol"), "role": "user"})
    carol_id = created.data["id"]
    login = await call(admin.client, "POST", f"{V1}/auth/login", json=_account("carol"))
    token = login.data["access_token"]
    event = await make_event(price="0.00")  # free: carol's booking is a sale
    booked = await call(admin.client, "POST", BOOKINGS, token=token, json={"event_id": event["id"]})
    assert booked.status == 201
    cancelled = await admin.delete(f"{BOOKINGS}/{booked.data['id']}")
    assert cancelled.status == 200
    about_or_by = await audit(admin, user_id=carol_id)
    assert [(r["action"], r["actor"], r["user_id"]) for r in about_or_by] == [
        ("booking.cancel", admin.username, carol_id),  # about carol's booking
        ("booking.create", "carol", carol_id),
        ("user.create", admin.username, carol_id),
    ]
    assert [r["action"] for r in await audit(admin, actor_id=carol_id)] == ["booking.create"]
    # The admin's own: carol's account made by them, and their event.
    by_admin = await audit(admin, user_id=admin.user_id)
    assert {r["action"] for r in by_admin} >= {"user.create", "event.create"}


async def test_records_match_their_documented_schema(admin, user, make_event):
    await book(user, (await make_event())["id"])
    async with admin.client.get(f"{V1}/openapi.json") as resp:
        doc = await resp.json()
    op = doc["paths"][AUDIT]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    reply = await admin.get(AUDIT)
    assert reply.data
    Draft202012Validator({**schema, "components": doc["components"]}).validate(reply.body)
    assert {p["name"] for p in op["parameters"]} == {
        "event_id", "booking_id", "user_id", "actor_id", "action", "skip", "limit",
    }  # fmt: skip


@pytest.mark.parametrize("role", ["user", "clerk"])
async def test_only_admins_browse_the_log(actors, role):
    actor = await actors.new(role)
    reply = await actor.get(AUDIT)
    assert reply.status == 403
    assert (await call(actor.client, "GET", AUDIT)).status == 401


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"event_id": "abc"}, "event_id"),
        ({"booking_id": "0"}, "booking_id"),
        ({"user_id": "-1"}, "user_id"),
        ({"actor_id": str(2**63)}, "actor_id"),
        ({"action": "Booking.Create"}, "action"),
        ({"action": "booking.create; drop"}, "action"),
        ({"limit": "501"}, "limit"),
        ({"skip": "-1"}, "skip"),
    ],
)
async def test_bad_filters_are_422(admin, params, field):
    reply = await admin.get(AUDIT, params=params)
    assert reply.status == 422, reply.body
    assert reply.fields == [field]
