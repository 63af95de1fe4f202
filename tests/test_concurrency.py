"""Seats never oversell: many truly simultaneous requests through the real server.

Every test fires its requests with ``asyncio.gather`` over real HTTP on loopback; the
app's pool has 20 connections, so the statements really overlap inside PostgreSQL.
The assertions hold under any interleaving: they check counts, the seat ledger and the
relations between the answers, never an order.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import aiopg
import pytest
from support import Actor, Reply, call, free_by_default

from server import db as db_module
from server.keys import DB


@pytest.fixture
def make_event(make_event: Any) -> Any:
    return free_by_default(make_event)


BOOKINGS = "/api/v1/bookings"
ORDERS = "/api/v1/orders"
EVENTS = "/api/v1/events"


async def book(actor: Actor, event_id: int, quantity: int = 1, **extra: Any) -> Reply:
    return await actor.post(BOOKINGS, json={"event_id": event_id, "quantity": quantity, **extra})


async def cancel(actor: Actor, booking_id: int) -> Reply:
    return await actor.delete(f"{BOOKINGS}/{booking_id}")


async def new_actors(actors: Any, role: str, n: int) -> list[Actor]:
    return list(await asyncio.gather(*(actors.new(role) for _ in range(n))))


def event_row(db_rows: Any, event_id: int) -> tuple[int, int]:
    """(total_seats, available_seats) as stored."""
    [row] = db_rows("SELECT total_seats, available_seats FROM events WHERE id = %s", event_id)
    return row


def same_transaction(db_rows: Any, *booking_ids: int) -> bool:
    """Whether the bookings were written by one transaction (their rows' xmin)."""
    [(writers,)] = db_rows(
        "SELECT count(DISTINCT xmin::text) FROM bookings WHERE id = ANY (%s)", list(booking_ids)
    )
    return writers == 1


def confirmed(db_rows: Any, event_id: int) -> tuple[int, int]:
    """(number, total quantity) of the event's confirmed bookings, as stored."""
    [row] = db_rows(
        "SELECT count(*), COALESCE(sum(quantity), 0) FROM bookings "
        "WHERE event_id = %s AND status = 'confirmed'",
        event_id,
    )
    return row


def assert_chain(total: int, successes: list[Reply]) -> None:
    """Successful bookings of one event (no cancels) form one chain down from ``total``:
    ordered by what they left, each left what the previous one left minus its quantity."""
    left = total
    for reply in sorted(successes, key=lambda r: -r.data["available_seats"]):
        left -= reply.data["quantity"]
        assert reply.data["available_seats"] == left, (reply.data, left)
    assert left >= 0


def assert_versions_distinct(versions: list[int]) -> None:
    """Each statement that changes an event bumps its version once, under the row lock."""
    assert len(versions) == len(set(versions)), Counter(versions).most_common(3)


# --- booking races -------------------------------------------------------------------


async def test_200_one_seat_bookings_on_100_seats_sell_exactly_100(actors, make_event, db_rows):
    event = await make_event(total_seats=100)
    users = await new_actors(actors, "user", 50)

    replies = await asyncio.gather(*(book(users[i % 50], event["id"]) for i in range(200)))

    statuses = Counter(r.status for r in replies)
    assert statuses == {201: 100, 409: 100}
    won = [r for r in replies if r.status == 201]
    # Each booking saw the seats the previous one left: 99, 98, ..., 0, once each.
    assert sorted(r.data["available_seats"] for r in won) == list(range(100))
    assert_versions_distinct([r.data["event_version"] for r in won])
    for r in replies:
        if r.status == 409:
            assert r.data["available_seats"] == 0, r.body
    assert event_row(db_rows, event["id"]) == (100, 0)
    assert confirmed(db_rows, event["id"]) == (100, 100)
    assert {r.data["id"] for r in won} == {
        row[0] for row in db_rows("SELECT id FROM bookings WHERE status = 'confirmed'")
    }


async def test_mixed_quantities_never_exceed_capacity(actors, clerk, make_event, db_rows):
    total = 37
    event = await make_event(total_seats=total)
    users = await new_actors(actors, "user", 20)
    sellers = [*users, clerk]
    quantities = [1 + i % 4 for i in range(60)]  # 150 seats asked for 37

    replies = await asyncio.gather(
        *(book(sellers[i % len(sellers)], event["id"], q) for i, q in enumerate(quantities))
    )

    assert {r.status for r in replies} <= {201, 409}
    won = [r for r in replies if r.status == 201]
    sold = sum(r.data["quantity"] for r in won)
    assert 0 < sold <= total
    # Every success saw the seats the one before it left.
    assert len({r.data["available_seats"] for r in won}) == len(won)
    assert_chain(total, won)
    assert_versions_distinct([r.data["event_version"] for r in won])

    total_seats, available = event_row(db_rows, event["id"])
    assert (total_seats, available) == (total, total - sold)
    assert confirmed(db_rows, event["id"]) == (len(won), sold)
    # Seats only went down, so every refusal was for more seats than the end state has,
    # and says how many seats really were left (fewer than asked for).
    for q, r in zip(quantities, replies, strict=True):
        if r.status == 409:
            assert q > available
            assert r.data["available_seats"] < q, (q, r.body)


# --- cancellation races --------------------------------------------------------------


@pytest.mark.parametrize("racers", [10, 50])
async def test_concurrent_cancels_of_one_booking_return_its_seats_once(
    racers, user, clerk, admin, make_event, db_rows
):
    event = await make_event(total_seats=100)
    booked = await book(user, event["id"], 10)
    assert booked.status == 201
    booking_id = booked.data["id"]

    # The owner and staff all try to cancel the same booking at once.
    cancellers = [user, clerk, admin]
    replies = await asyncio.gather(*(cancel(cancellers[i % 3], booking_id) for i in range(racers)))

    assert Counter(r.status for r in replies) == {200: 1, 409: racers - 1}
    [done] = [r for r in replies if r.status == 200]
    assert done.data["status"] == "cancelled"
    assert done.data["available_seats"] == 100
    for r in replies:
        if r.status == 409:
            assert "already cancelled" in r.body["message"], r.body
    assert event_row(db_rows, event["id"]) == (100, 100)
    assert db_rows("SELECT status FROM bookings WHERE id = %s", booking_id) == [("cancelled",)]

    # The seats came back once: the event now sells exactly 100 more, not 100 + 10 * n.
    sellers = [user, clerk, admin]
    again = await asyncio.gather(*(book(sellers[i % 3], event["id"], 10) for i in range(15)))
    assert Counter(r.status for r in again) == {201: 10, 409: 5}
    assert event_row(db_rows, event["id"]) == (100, 0)
    assert confirmed(db_rows, event["id"]) == (10, 100)


async def test_mixed_storm_over_several_events_keeps_every_ledger(
    actors, admin, make_event, db_rows
):
    rng = random.Random(20240601)
    totals = [7, 20, 33, 50]
    events = [await make_event(title=f"Storm {n}", total_seats=n) for n in totals]
    users = await new_actors(actors, "user", 12)
    clerks = await new_actors(actors, "clerk", 3)
    staff = [*clerks, admin]

    # Some bookings made before the storm, cancelled during it.
    early: list[tuple[Actor, dict[str, Any]]] = []
    for i in range(12):
        owner = users[i]
        r = await book(owner, events[i % 4]["id"], 1 + i % 3)
        assert r.status == 201
        early.append((owner, r.data))

    booked: list[dict[str, Any]] = []  # every booking that got a 201 in the storm
    cancelled: list[dict[str, Any]] = []  # every cancel that got a 200 in the storm
    statuses: Counter[tuple[str, int]] = Counter()

    async def book_then_maybe_cancel(seed: int) -> None:
        r = random.Random(seed)
        event = r.choice(events)
        seller = r.choice(users + clerks)
        extra = {"customer_name": f"Walk-in {seed}"} if seller.role == "clerk" else {}
        quantity = r.randint(1, 4)
        reply = await book(seller, event["id"], quantity, **extra)
        statuses["book", reply.status] += 1
        assert reply.status in (201, 409), reply.body
        if reply.status != 201:
            assert reply.data["available_seats"] < quantity, reply.body
            return
        booked.append(reply.data)
        how = r.random()
        if how < 0.3:  # the seller changes their mind
            await cancel_racing([seller], reply.data["id"])
        elif how < 0.45:  # the seller and staff cancel it at the same time
            await cancel_racing([seller, r.choice(staff), r.choice(staff)], reply.data["id"])
        elif how < 0.55 and seller.role == "user":  # a stranger may not cancel it
            stranger = r.choice([u for u in users if u is not seller])
            refused = await cancel(stranger, reply.data["id"])
            statuses["stranger", refused.status] += 1
            assert refused.status == 404, refused.body

    async def cancel_racing(who: list[Actor], booking_id: int) -> None:
        replies = await asyncio.gather(*(cancel(a, booking_id) for a in who))
        for reply in replies:
            statuses["cancel", reply.status] += 1
        assert sorted(r.status for r in replies) == [200] + [409] * (len(who) - 1)
        cancelled.extend(r.data for r in replies if r.status == 200)

    async def cancel_early(owner: Actor, booking: dict[str, Any]) -> None:
        who = [owner, rng.choice(staff)]
        await cancel_racing(who, booking["id"])

    jobs: list[Awaitable[None]] = [book_then_maybe_cancel(rng.randrange(10**9)) for _ in range(160)]
    jobs += [cancel_early(owner, data) for owner, data in early[::2]]
    rng.shuffle(jobs)
    await asyncio.gather(*jobs)

    assert statuses["book", 201] > 0 and statuses["book", 409] > 0, statuses
    assert statuses["cancel", 200] > len(early) // 2, statuses

    # What the clients were told adds up to what is stored, event by event.
    cancelled_ids = {c["id"] for c in cancelled}
    assert len(cancelled_ids) == len(cancelled)  # no booking was cancelled twice
    alive = [b for _, b in early if b["id"] not in cancelled_ids]
    alive += [b for b in booked if b["id"] not in cancelled_ids]
    for event, total in zip(events, totals, strict=True):
        total_seats, available = event_row(db_rows, event["id"])
        assert total_seats == total
        assert 0 <= available <= total
        held = sum(b["quantity"] for b in alive if b["event_id"] == event["id"])
        assert total - available == held, event["id"]
        assert confirmed(db_rows, event["id"])[1] == held
    assert {row[0] for row in db_rows("SELECT id FROM bookings WHERE status = 'confirmed'")} == {
        b["id"] for b in alive
    }
    stored = dict(db_rows("SELECT id, status FROM bookings"))
    assert all(stored[i] == "cancelled" for i in cancelled_ids)
    for event in events:
        assert_versions_distinct(
            [r["event_version"] for r in booked + cancelled if r["event_id"] == event["id"]]
        )


# --- admin edits racing bookings -----------------------------------------------------


async def test_capacity_edits_racing_bookings(actors, admin, make_event, db_rows):
    event = await make_event(total_seats=60)
    users = await new_actors(actors, "user", 20)
    new_totals = [55, 50, 45, 40, 35, 30, 25, 20, 15, 10]

    async def patch(total: int) -> Reply:
        return await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={"total_seats": total})

    # The edits are interleaved with the bookings, so they are sent while bookings are in flight.
    jobs: list[Awaitable[Reply]] = []
    patch_at: list[int] = []
    quantities: list[int] = []
    for i in range(50):
        if i % 5 == 3:
            patch_at.append(len(jobs))
            jobs.append(patch(new_totals[i // 5]))
        quantities.append(1 + i % 3)
        jobs.append(book(users[i % 20], event["id"], quantities[-1]))
    replies = await asyncio.gather(*jobs)
    patch_replies = [replies[i] for i in patch_at]
    book_replies = [r for i, r in enumerate(replies) if i not in patch_at]
    assert len(patch_replies) == len(new_totals)

    assert {r.status for r in patch_replies} <= {200, 409}, [r.body for r in patch_replies]
    assert {r.status for r in book_replies} <= {201, 409}, [r.body for r in book_replies]
    for r in patch_replies:
        if r.status == 409:
            assert r.fields == ["total_seats"], r.body
        else:
            assert 0 <= r.data["available_seats"] <= r.data["total_seats"]

    for q, r in zip(quantities, book_replies, strict=True):
        if r.status == 409:  # refused for want of seats, and says how many were left
            assert r.data["available_seats"] < q, (q, r.body)
    won = [r for r in book_replies if r.status == 201]
    sold = sum(r.data["quantity"] for r in won)
    total_seats, available = event_row(db_rows, event["id"])
    assert total_seats >= sold
    assert total_seats - available == sold
    assert confirmed(db_rows, event["id"]) == (len(won), sold)
    # The stored total is that of the last edit to commit (the highest version), if any.
    edits = [r.data for r in patch_replies if r.status == 200]
    expected_total = max(edits, key=lambda e: e["version"])["total_seats"] if edits else 60
    assert total_seats == expected_total
    assert_versions_distinct([r.data["event_version"] for r in won] + [e["version"] for e in edits])


@pytest.mark.parametrize("round_", range(5))
async def test_delete_racing_bookings_never_orphans_them(
    round_, actors, admin, make_event, db_rows
):
    users = await new_actors(actors, "user", 5)
    event = await make_event(total_seats=30)
    event_id = event["id"]

    # The delete is sent in the middle of the bookings, at a different place each round.
    jobs: list[Awaitable[Reply]] = [book(users[i % 5], event_id, 1) for i in range(12)]
    jobs.insert(round_ * 3, admin.delete(f"{EVENTS}/{event_id}"))
    replies = await asyncio.gather(*jobs)
    deleted = replies[round_ * 3]
    bookings = [r for i, r in enumerate(replies) if i != round_ * 3]

    stored = db_rows("SELECT available_seats FROM events WHERE id = %s", event_id)
    rows = db_rows("SELECT id FROM bookings WHERE event_id = %s", event_id)
    won = [r for r in bookings if r.status == 201]
    if deleted.status == 200:
        # The delete won: no booking got in, and every later one found no event.
        assert won == []
        assert all(r.status == 404 for r in bookings), [r.body for r in bookings]
        assert stored == [] and rows == []
    else:
        # A booking won: the delete was refused and the bookings are all there.
        assert deleted.status == 409, deleted.body
        assert won, [r.body for r in bookings]
        assert all(r.status == 201 for r in bookings), [r.body for r in bookings]
        assert stored == [(30 - len(won),)]
        assert {row[0] for row in rows} == {r.data["id"] for r in won}
    orphans = db_rows(
        "SELECT count(*) FROM bookings b LEFT JOIN events e ON e.id = b.event_id WHERE e.id IS NULL"
    )
    assert orphans == [(0,)]


async def test_delete_waits_for_an_in_flight_booking(user, admin, make_event, db_rows):
    """Whatever the order, the pair ends in one of the two consistent outcomes."""
    for _ in range(10):
        event = await make_event(total_seats=3)
        booked, deleted = await asyncio.gather(
            book(user, event["id"], 1), admin.delete(f"{EVENTS}/{event['id']}")
        )
        assert (booked.status, deleted.status) in {(201, 409), (404, 200)}, (
            booked.body,
            deleted.body,
        )
        left = db_rows("SELECT available_seats FROM events WHERE id = %s", event["id"])
        assert left == ([(2,)] if booked.status == 201 else [])


async def test_booking_queued_before_a_delete_wins(user, admin, make_event, row_lock, db_rows):
    event = await make_event(total_seats=3)
    await row_lock.hold(event["id"])
    booking = await row_lock.queue(book(user, event["id"], 2), waiting=1)
    deleting = await row_lock.queue(admin.delete(f"{EVENTS}/{event['id']}"), waiting=2)
    row_lock.release()

    booked, deleted = await booking, await deleting
    assert booked.status == 201, booked.body
    assert booked.data["available_seats"] == 1
    assert deleted.status == 409, deleted.body
    assert event_row(db_rows, event["id"]) == (3, 1)
    assert confirmed(db_rows, event["id"]) == (1, 2)


async def test_booking_queued_behind_a_delete_finds_no_event(
    user, admin, make_event, row_lock, db_rows
):
    """The booking's statement began before the delete committed; it must still see that
    the event is gone (404), not report seats of an event that no longer exists."""
    event = await make_event(total_seats=3)
    await row_lock.hold(event["id"])
    deleting = await row_lock.queue(admin.delete(f"{EVENTS}/{event['id']}"), waiting=1)
    booking = await row_lock.queue(book(user, event["id"], 2), waiting=2)
    row_lock.release()

    deleted, booked = await deleting, await booking
    assert deleted.status == 200, deleted.body
    assert booked.status == 404, booked.body
    assert db_rows("SELECT count(*) FROM events") == [(0,)]
    assert db_rows("SELECT count(*) FROM bookings") == [(0,)]


async def test_booking_queued_behind_a_sale_reports_the_seats_left_after_it(
    actors, clerk, make_event, row_lock
):
    """A refusal reports the seats as they are when the booking's turn comes, not as they
    were when its statement began waiting."""
    event = await make_event(total_seats=5)
    first, second = await new_actors(actors, "user", 2)
    await row_lock.hold(event["id"])
    big = await row_lock.queue(book(first, event["id"], 4), waiting=1)
    small = await row_lock.combine(book(second, event["id"], 2), waiting=1, via=second)
    row_lock.release()

    big_r, small_r = await big, await small
    assert (big_r.status, big_r.data["available_seats"]) == (201, 1)
    assert small_r.status == 409, small_r.body
    assert small_r.data == {"available_seats": 1}
    assert small_r.body["message"] == "Not enough seats: 1 left"
    single = await book(clerk, event["id"], 1, customer_name="Ann")
    assert (single.status, single.data["available_seats"]) == (201, 0)


async def test_booking_queued_behind_a_cancel_gets_the_returned_seats(
    actors, make_event, row_lock, db_rows
):
    """The event was sold out when the booking's statement began, but by its turn a cancel
    had returned seats: it must take them, and never refuse while reporting enough left."""
    event = await make_event(total_seats=3)
    owner, late = await new_actors(actors, "user", 2)
    sold = await book(owner, event["id"], 3)
    assert sold.data["available_seats"] == 0
    await row_lock.hold(event["id"])
    cancelling = await row_lock.queue(cancel(owner, sold.data["id"]), waiting=1)
    booking = await row_lock.queue(book(late, event["id"], 3), waiting=2)
    row_lock.release()

    cancelled, booked = await cancelling, await booking
    assert (cancelled.status, cancelled.data["available_seats"]) == (200, 3)
    assert booked.status == 201, booked.body
    assert booked.data["available_seats"] == 0
    assert event_row(db_rows, event["id"]) == (3, 0)


async def test_booking_queued_behind_a_date_change_sees_the_event_started(
    user, admin, make_event, row_lock, db_rows
):
    event = await make_event(total_seats=5)
    await row_lock.hold(event["id"])
    past = {"date": "2000-01-01T00:00:00+00:00"}
    moving = await row_lock.queue(
        admin.call("PATCH", f"{EVENTS}/{event['id']}", json=past), waiting=1
    )
    booking = await row_lock.queue(book(user, event["id"], 1), waiting=2)
    row_lock.release()

    moved, booked = await moving, await booking
    assert moved.status == 200, moved.body
    assert booked.status == 409, booked.body
    assert "already started" in booked.body["message"], booked.body
    assert event_row(db_rows, event["id"]) == (5, 5)


# --- registrations -------------------------------------------------------------------


async def test_concurrent_registrations_of_one_name_create_one_account(client, db_rows):
    variants = ["racer", "Racer", "RACER", "rAcEr", "RaCeR", "raceR", "rACER", "RACer"] * 3

    replies = await asyncio.gather(
        *(
            call(
                client,
                "POST",
                "/api/v1/auth/register",
                json={"username": name, "password": f"password-{i}"},
            )
            for i, name in enumerate(variants)
        )
    )

    assert Counter(r.status for r in replies) == {201: 1, 409: len(variants) - 1}
    [made] = [r for r in replies if r.status == 201]
    assert made.data["username"] in variants
    assert db_rows("SELECT username FROM users WHERE lower(username) = 'racer'") == [
        (made.data["username"],)
    ]
    # The account that won is the one whose password works.
    password = f"password-{replies.index(made)}"
    login = await call(
        client, "POST", "/api/v1/auth/login", json={"username": "RACER", "password": password}
    )
    assert login.status == 200, login.body


# --- one round trip ------------------------------------------------------------------


async def test_bookings_work_on_new_connections_after_the_old_ones_closed(client, user, make_event):
    """The booking statement is prepared once per connection: connections that replace
    closed ones (after a database restart, say) prepare it again, not fail to find it."""
    pool = client.server.app[DB].pool
    event = await make_event(total_seats=50)
    for _ in range(3):
        booked = await asyncio.gather(*(book(user, event["id"], 1) for _ in range(8)))
        assert Counter(r.status for r in booked) == {201: 8}, [r.body for r in booked]
        await pool.clear()  # closes every idle connection; the next ones are new
    after = await book(user, event["id"], 1)
    assert (after.status, after.data["available_seats"]) == (201, 25)


def count_round_trips(database: Any, monkeypatch: Any) -> tuple[list[str], list[int]]:
    """From now on, each statement the real Database runs and each connection it takes."""
    statements: list[str] = []
    acquired: list[int] = []

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        async def run(self: Any, query: Any, **params: Any) -> Any:
            statements.append(query.sql)
            return await method(self, query, **params)

        return run

    for name in ("fetchone", "fetchall", "execute"):
        monkeypatch.setattr(
            db_module.Statements, name, counting(getattr(db_module.Statements, name))
        )
    acquire = database.pool.acquire

    def counting_acquire() -> Any:
        acquired.append(1)
        return acquire()

    monkeypatch.setattr(database.pool, "acquire", counting_acquire)
    return statements, acquired


async def test_booking_and_cancelling_are_one_round_trip_each(
    client, user, clerk, admin, make_event, monkeypatch
):
    """Count the statements the real Database runs and the connections it takes."""
    statements, acquired = count_round_trips(client.server.app[DB], monkeypatch)

    event = await make_event(total_seats=25)
    small = await make_event(total_seats=2)
    started = await make_event(total_seats=2)
    moved = await admin.call(
        "PATCH", f"{EVENTS}/{started['id']}", json={"date": "2000-01-01T00:00:00+00:00"}
    )
    assert moved.status == 200, moved.body

    async def measured(request: Awaitable[Reply], status: int, count: int = 1) -> Reply:
        before = len(statements), len(acquired)
        reply = await request
        assert reply.status == status, reply.body
        assert (len(statements) - before[0], len(acquired) - before[1]) == (count, 1)
        return reply

    # One at a time, so each request's count is its own.
    first = (await measured(book(user, event["id"], 2), 201)).data["id"]
    await measured(cancel(user, first), 200)
    await measured(cancel(clerk, first), 409)  # already cancelled
    await measured(book(user, event["id"], 5), 201)
    await measured(book(clerk, 10**9, 1, customer_name="Nobody"), 404)
    await measured(cancel(user, 10**9), 404)
    await measured(book(user, small["id"], 3), 409)  # not enough seats
    await measured(book(user, started["id"], 1), 409)  # already started
    # The counters do see more: deleting an event is a transaction of three statements.
    await measured(admin.delete(f"{EVENTS}/{small['id']}"), 200, count=3)

    # Many at once: never more than one statement and one connection per request (the
    # bookings of one event that arrive together go together: fewer).
    statements.clear()
    acquired.clear()
    made = await asyncio.gather(*(book(user, event["id"], 1) for _ in range(20)))
    assert Counter(r.status for r in made) == {201: 20}
    assert len(statements) == len(acquired) <= 20
    statements.clear()
    acquired.clear()
    undone = await asyncio.gather(*(cancel(clerk, r.data["id"]) for r in made))
    assert Counter(r.status for r in undone) == {200: 20}
    assert (len(statements), len(acquired)) == (20, 20)


async def test_a_booking_by_an_account_never_seen_before_is_one_round_trip(
    client, actors, make_event, monkeypatch
):
    """A hot event: many users each book once. Checking each one's account costs no
    statement, even on its first request to this instance."""
    event = await make_event(total_seats=10)
    newcomers = await new_actors(actors, "user", 5)
    statements, acquired = count_round_trips(client.server.app[DB], monkeypatch)
    for actor in newcomers:
        before = len(statements), len(acquired)
        reply = await book(actor, event["id"])
        assert reply.status == 201, reply.body
        assert (len(statements) - before[0], len(acquired) - before[1]) == (1, 1)
    made = await asyncio.gather(*(book(a, event["id"]) for a in newcomers))
    assert Counter(r.status for r in made) == {201: 5}
    assert len(statements) == len(acquired) <= 10  # (fewer when they were combined)


# --- combining: the orders of an event that arrive while its statement runs go together ---


async def test_orders_that_arrive_meanwhile_go_together_each_all_or_nothing(
    actors, make_event, row_lock, db_rows
):
    """While one booking of an event waits, the next ones wait in the server and then go as
    one statement and one transaction, in arrival order: one that does not fit is refused
    with the seats left at its turn, and a later smaller one still gets its seats."""
    event = await make_event(total_seats=10)
    buyers = await new_actors(actors, "user", 5)
    await row_lock.hold(event["id"])
    first = await row_lock.queue(book(buyers[0], event["id"], 2), waiting=1)
    later = []
    for n, (buyer, quantity) in enumerate(zip(buyers[1:], (5, 4, 3, 1), strict=True), 1):
        later.append(await row_lock.combine(book(buyer, event["id"], quantity), n, buyer))
    row_lock.release()

    first_r = await first
    five, four, three, one = [await task for task in later]
    assert (first_r.status, first_r.data["available_seats"]) == (201, 8)
    assert (five.status, five.data["available_seats"]) == (201, 3)
    assert (four.status, four.body["message"]) == (409, "Not enough seats: 3 left")
    assert (three.status, three.data["available_seats"]) == (201, 0)
    assert (one.status, one.body["message"]) == (409, "Sold out")
    assert same_transaction(db_rows, five.data["id"], three.data["id"])
    assert not same_transaction(db_rows, first_r.data["id"], five.data["id"])
    assert event_row(db_rows, event["id"]) == (10, 0)


async def test_a_combined_order_whose_seat_is_locked_elsewhere_goes_alone_not_refused(
    admin, clerk, seated_event, row_lock, database_url
):
    """In a batch, an order never waits for a seat another transaction has locked (that
    could deadlock with it): it is placed again alone, and gets the seat once it is free,
    while the rest of its batch is answered without waiting for it."""
    event = await seated_event()
    a1, a2 = event["seats"]["A1"], event["seats"]["A2"]
    seat_lock = await aiopg.connect(database_url)
    try:
        async with seat_lock.cursor() as cur:
            await cur.execute("BEGIN")
            await cur.execute(
                "SELECT 1 FROM event_seats WHERE event_id = %s AND seat_id = %s FOR UPDATE",
                (event["id"], a1),
            )
            await row_lock.hold(event["id"])
            first = await row_lock.queue(
                clerk.post(ORDERS, json={"event_id": event["id"], "best_available": {"count": 2}}),
                waiting=1,
            )
            picks = [{"event_id": event["id"], "lines": [{"seat_ids": [s]}]} for s in (a2, a1)]
            other = await row_lock.combine(clerk.post(ORDERS, json=picks[0]), 1, clerk)
            locked = await row_lock.combine(clerk.post(ORDERS, json=picks[1]), 2, clerk)
            row_lock.release()
            assert (await first).status == 201
            other_r = await other
            assert other_r.status == 201, other_r.body
            assert not locked.done()  # waiting for A1, alone, not in the batch
            await cur.execute("ROLLBACK")
        locked_r = await locked
        assert locked_r.status == 201, locked_r.body
        assert [t["seat_id"] for t in locked_r.data["tickets"]] == [a1]
    finally:
        seat_lock.close()


async def test_a_batch_that_loses_its_connection_answers_503_to_each_order(
    actors, make_event, row_lock, db_rows
):
    """A batch whose connection is lost mid-statement (a failover, a restart) may have
    committed before its answer was lost: its orders are not placed again, each is
    answered 503 with Retry-After, none a 500 and none left hanging."""
    event = await make_event(total_seats=10)
    buyers = await new_actors(actors, "user", 3)
    await row_lock.hold(event["id"])
    first = await row_lock.queue(book(buyers[0], event["id"], 1), waiting=1)
    batch = [
        await row_lock.combine(book(b, event["id"], 1), n, b) for n, b in enumerate(buyers[1:], 1)
    ]
    waiting_for_lock = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    assert db_rows(waiting_for_lock) == [(1,)]  # the first order's statement
    assert (await first).status == 503
    # The batch's statement comes next and waits for the event too: its connection is cut.
    await row_lock.until_waiting(1)
    assert db_rows(waiting_for_lock) == [(1,)]
    async with asyncio.timeout(10):
        replies = [await task for task in batch]
    for reply in replies:
        assert (reply.status, reply.headers["Retry-After"]) == (503, "1"), reply.body
    row_lock.release()
    assert db_rows("SELECT count(*) FROM bookings") == [(0,)]
    assert (await book(buyers[0], event["id"], 2)).status == 201
