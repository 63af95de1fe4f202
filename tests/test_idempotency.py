"""Idempotency-Key: a retried change is done once and answered as the first time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import psycopg2
import pytest
from support import call, event_body, free_by_default

from server.app import create_app
from server.keys import IDEMPOTENCY


@pytest.fixture
def make_event(make_event: Any) -> Any:
    return free_by_default(make_event)


V1 = "/api/v1"
BOOKINGS = f"{V1}/bookings"
KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"


@pytest.fixture
def db_exec(database_url: str) -> Any:
    """Change the database directly (committed), e.g. to age a key."""

    def run(statement: str, *args: Any) -> int:
        conn = psycopg2.connect(database_url)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                return cur.rowcount
        finally:
            conn.close()

    return run


def count(db_rows: Any, sql: str, *args: Any) -> int:
    return db_rows(sql, *args)[0][0]


def bookings_of(db_rows: Any, event: dict[str, Any]) -> int:
    return count(db_rows, "SELECT count(*) FROM bookings WHERE event_id = %s", event["id"])


async def test_retry_replays_the_first_answer_and_books_once(user, make_event, db_rows):
    """The same request with the same key twice: one booking, the same answer, replayed."""
    event = await make_event(total_seats=10)
    body = {"event_id": event["id"], "quantity": 2}
    first = await user.post(BOOKINGS, json=body, headers={KEY: "order-1001"})
    again = await user.post(BOOKINGS, json=body, headers={KEY: "order-1001"})
    assert first.status == again.status == 201, (first.body, again.body)
    assert again.body == first.body
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"
    assert bookings_of(db_rows, event) == 1
    assert (await user.get(f"{V1}/events/{event['id']}")).data["available_seats"] == 8
    audited = "SELECT count(*) FROM audit_log WHERE action = 'booking.create' AND event_id = %s"
    assert count(db_rows, audited, event["id"]) == 1


async def test_spacing_and_key_order_do_not_make_another_request(user, make_event, db_rows):
    """The body is compared as JSON: the same fields in another layout are the same request."""
    event = await make_event()
    headers = {KEY: "layout", "Content-Type": "application/json"}
    first = await user.post(BOOKINGS, data=f'{{"event_id": {event["id"]}, "quantity": 1}}',
                            headers=headers)  # fmt: skip
    again = await user.post(BOOKINGS, data=f'{{"quantity":1,"event_id":{event["id"]}}}',
                            headers=headers)  # fmt: skip
    assert first.status == again.status == 201
    assert again.headers[REPLAYED] == "true"
    assert again.data["id"] == first.data["id"]
    assert bookings_of(db_rows, event) == 1


async def test_same_key_with_another_body_is_a_422(user, make_event, db_rows):
    """Reusing a key for a different request is refused, naming the header, and does nothing."""
    event = await make_event()
    first = await user.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: "k1"})
    assert first.status == 201
    other = await user.post(
        BOOKINGS, json={"event_id": event["id"], "quantity": 3}, headers={KEY: "k1"}
    )
    assert other.status == 422, other.body
    assert other.fields == ["Idempotency-Key"]
    assert bookings_of(db_rows, event) == 1


async def test_same_key_on_another_path_is_a_422(user, make_event, db_rows):
    """A key names one request: method and path included."""
    event = await make_event()
    booked = await user.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: "k2"})
    assert booked.status == 201
    cancel = await user.delete(f"{BOOKINGS}/{booked.data['id']}", headers={KEY: "k2"})
    assert cancel.status == 422
    assert cancel.fields == ["Idempotency-Key"]
    assert (await user.get(f"{BOOKINGS}/{booked.data['id']}")).data["status"] == "confirmed"


async def test_concurrent_retries_book_exactly_once(user, make_event, db_rows):
    """Ten identical requests at once with one key: one booking, ten identical answers."""
    event = await make_event(total_seats=50)
    body = {"event_id": event["id"], "quantity": 1}
    replies = await asyncio.gather(
        *(user.post(BOOKINGS, json=body, headers={KEY: "storm"}) for _ in range(10))
    )
    assert {r.status for r in replies} == {201}
    assert len({r.data["id"] for r in replies}) == 1
    assert sum(REPLAYED not in r.headers for r in replies) == 1
    assert bookings_of(db_rows, event) == 1


async def test_concurrent_retries_on_two_instances_book_once(
    aiohttp_client, config, user, make_event, db_rows
):
    """Retries spread over two server instances still run once (the database's lock)."""
    other = await aiohttp_client(create_app(config))
    event = await make_event(total_seats=50)
    body = {"event_id": event["id"], "quantity": 1}
    headers = {KEY: "two-instances", "Authorization": f"Bearer {user.token}"}
    replies = await asyncio.gather(
        *(
            call(client, "POST", BOOKINGS, json=body, headers=headers)
            for client in [user.client, other] * 6
        )
    )
    assert {r.status for r in replies} == {201}
    assert len({r.data["id"] for r in replies}) == 1
    assert bookings_of(db_rows, event) == 1


async def test_keys_are_per_caller(actors, make_event, db_rows):
    """Two users with the same key make two bookings: a key is scoped to its caller."""
    alice, bob = await actors.new("user"), await actors.new("user")
    event = await make_event()
    body = {"event_id": event["id"]}
    a = await alice.post(BOOKINGS, json=body, headers={KEY: "shared"})
    b = await bob.post(BOOKINGS, json=body, headers={KEY: "shared"})
    assert a.status == b.status == 201
    assert a.data["id"] != b.data["id"]
    assert REPLAYED not in b.headers
    assert bookings_of(db_rows, event) == 2
    owners = db_rows("SELECT owner FROM idempotency_keys WHERE key = 'shared' ORDER BY owner")
    assert owners == sorted([(f"user:{alice.user_id}",), (f"user:{bob.user_id}",)])


async def test_a_key_older_than_a_day_is_new_again(client, user, make_event, db_rows, db_exec):
    """After 24 hours a key is forgotten: the same key runs again, even with a new body."""
    event = await make_event()
    first = await user.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: "old"})
    assert first.status == 201
    aged = db_exec("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    assert aged == 1
    again = await user.post(
        BOOKINGS, json={"event_id": event["id"], "quantity": 2}, headers={KEY: "old"}
    )
    assert again.status == 201, again.body
    assert REPLAYED not in again.headers
    assert again.data["id"] != first.data["id"]
    assert bookings_of(db_rows, event) == 2
    # The new answer is the one kept now.
    replay = await user.post(
        BOOKINGS, json={"event_id": event["id"], "quantity": 2}, headers={KEY: "old"}
    )
    assert replay.headers[REPLAYED] == "true"
    assert replay.data["id"] == again.data["id"]


async def test_purge_forgets_only_expired_keys(client, user, make_event, db_rows, db_exec):
    """The periodic purge deletes keys past their 24 hours and keeps the rest."""
    event = await make_event()
    for key in ("keep", "drop"):
        reply = await user.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: key})
        assert reply.status == 201
    db_exec(
        "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'drop'"
    )
    assert await client.server.app[IDEMPOTENCY].purge() == 1
    assert db_rows("SELECT key FROM idempotency_keys") == [("keep",)]


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "caf\u00e9", "tab\there"], ids=repr)
async def test_malformed_keys_are_refused(user, make_event, db_rows, key):
    """A key must be 1 to 255 visible ASCII characters; anything else is a 422, not a booking."""
    event = await make_event()
    reply = await user.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: key})
    assert reply.status == 422, reply.body
    assert reply.fields == ["Idempotency-Key"]
    assert bookings_of(db_rows, event) == 0


async def test_longest_key_is_accepted(user, make_event):
    """255 visible ASCII characters (any of them) make a valid key."""
    event = await make_event()
    key = ("!~" + "".join(chr(c) for c in range(0x21, 0x7F)) * 3)[:255]
    first = await user.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: key})
    again = await user.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: key})
    assert first.status == again.status == 201
    assert again.headers[REPLAYED] == "true"


async def test_a_refusal_is_kept_too(actors, make_event, db_rows):
    """A 409 is a final answer: its retry gets the 409 again even once seats are free."""
    buyer, other = await actors.new("user"), await actors.new("user")
    event = await make_event(total_seats=1)
    taken = await other.post(BOOKINGS, json={"event_id": event["id"]})
    refused = await buyer.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: "late"})
    assert refused.status == 409
    assert (await other.delete(f"{BOOKINGS}/{taken.data['id']}")).status == 200
    retried = await buyer.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: "late"})
    assert retried.status == 409
    assert retried.headers[REPLAYED] == "true"
    assert retried.body == refused.body
    fresh = await buyer.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: "late-2"})
    assert fresh.status == 201


async def test_invalid_input_does_not_use_up_the_key(user, make_event, db_rows):
    """Input refused by validation is not kept: the corrected request may use the key."""
    event = await make_event()
    bad = await user.post(
        BOOKINGS, json={"event_id": event["id"], "quantity": 0}, headers={KEY: "fix-me"}
    )
    assert bad.status == 422
    assert bad.fields == ["quantity"]
    good = await user.post(BOOKINGS, json={"event_id": event["id"]}, headers={KEY: "fix-me"})
    assert good.status == 201
    assert REPLAYED not in good.headers


async def test_reads_and_logins_ignore_the_header(client, user, make_event, db_rows):
    """GETs and the anonymous auth routes do not use keys: nothing is kept for them."""
    await make_event()
    assert (await user.get(f"{V1}/events", headers={KEY: "read"})).status == 200
    login = {"username": user.username, "password": "correct horse battery"}
    for _ in range(2):
        reply = await call(client, "POST", f"{V1}/auth/login", json=login, headers={KEY: "li"})
        assert reply.status == 200
        assert REPLAYED not in reply.headers
    assert db_rows("SELECT count(*) FROM idempotency_keys") == [(0,)]


async def test_hold_then_confirm_and_cancel_retries(user, make_event, db_rows):
    """Confirm and cancel retried with their keys answer 200 again instead of a 409."""
    event = await make_event(total_seats=5)
    hold = await user.post(BOOKINGS, json={"event_id": event["id"], "hold": True})
    url = f"{BOOKINGS}/{hold.data['id']}"
    confirms = [await user.post(f"{url}/confirm", json={}, headers={KEY: "c"}) for _ in range(2)]
    assert [r.status for r in confirms] == [200, 200]
    assert confirms[1].data["ticket_code"] == confirms[0].data["ticket_code"]
    cancels = [await user.delete(url, headers={KEY: "x"}) for _ in range(2)]
    assert [r.status for r in cancels] == [200, 200]
    assert cancels[1].headers[REPLAYED] == "true"
    actions = db_rows(
        "SELECT action, count(*) FROM audit_log WHERE booking_id = %s GROUP BY action "
        "ORDER BY action",
        hold.data["id"],
    )
    assert actions == [("booking.cancel", 1), ("booking.confirm", 1), ("booking.hold", 1)]


async def test_checkin_retry_is_admitted_once(user, clerk, make_event, db_rows):
    """A door scanner retrying a check-in gets its admission again, not 'already admitted'."""
    event = await make_event()
    ticket = (await user.post(BOOKINGS, json={"event_id": event["id"]})).data["ticket_code"]
    scans = [
        await clerk.post(f"{V1}/checkins", json={"code": ticket}, headers={KEY: "scan-1"})
        for _ in range(2)
    ]
    assert [r.status for r in scans] == [200, 200]
    assert scans[1].body == scans[0].body
    checked = "SELECT checked_in FROM events WHERE id = %s"
    assert db_rows(checked, event["id"]) == [(1,)]
    assert (await clerk.post(f"{V1}/checkins", json={"code": ticket})).status == 409


async def test_admin_creations_are_idempotent(admin, db_rows):
    """Events and accounts made with a key are made once."""
    for _ in range(2):
        created = await admin.post(
            f"{V1}/events", json=event_body(title="Once"), headers={KEY: "ev"}
        )
        assert created.status == 201
        made = await admin.post(
            f"{V1}/users",
            json={"username": "newclerk", "password": "a long password", "role": "clerk"},
            headers={KEY: "usr"},
        )
        assert made.status == 201, made.body  # without the key the second would be a 409
    assert db_rows("SELECT count(*) FROM events WHERE title = 'Once'") == [(1,)]
    assert db_rows("SELECT count(*) FROM users WHERE username = 'newclerk'") == [(1,)]


async def test_event_edits_with_a_key(admin, make_event, db_rows):
    """PATCH and DELETE take keys too; a replayed PATCH does not bump the version again."""
    event = await make_event()
    url = f"{V1}/events/{event['id']}"
    patches = [
        await admin.call("PATCH", url, json={"title": "Renamed"}, headers={KEY: "p"})
        for _ in range(2)
    ]
    assert patches[0].body == patches[1].body
    assert db_rows("SELECT version FROM events WHERE id = %s", event["id"]) == [
        (patches[0].data["version"],)
    ]
    deletes = [await admin.delete(url, headers={KEY: "d"}) for _ in range(2)]
    assert [r.status for r in deletes] == [200, 200]


async def test_replayed_answer_is_byte_for_byte_the_first(user, make_event):
    """The stored answer is replayed as it was sent, with its content type."""
    event = await make_event()
    body = {"event_id": event["id"]}
    headers = {KEY: "bytes", "Authorization": f"Bearer {user.token}"}
    texts = []
    for _ in range(2):
        async with user.client.post(BOOKINGS, json=body, headers=headers) as resp:
            assert resp.status == 201
            assert resp.content_type == "application/json"
            texts.append(await resp.text())
    assert texts[0] == texts[1]
    assert json.loads(texts[0])["data"]["event_id"] == event["id"]
