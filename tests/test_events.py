"""Events: create, browse, search, edit, resize and delete, through the real server."""

import json
import select
import time
from datetime import datetime

import psycopg2
import pytest
from support import event_body, event_only, place_order, seated_venue, small_plan

EVENTS = "/api/v1/events"
PAST = "2001-01-01T12:00:00+00:00"


async def sell(actor, event_id, seats):
    """Book ``seats`` seats in bookings of at most 10; answer the booking ids."""
    ids = []
    while seats:
        n = min(seats, 10)
        reply = await actor.post("/api/v1/bookings", json={"event_id": event_id, "quantity": n})
        assert reply.status == 201, reply.body
        ids.append(reply.data["id"])
        seats -= n
    return ids


def titles(reply):
    assert reply.status == 200, reply.body
    return [e["title"] for e in reply.data]


# --- create ----------------------------------------------------------------------


async def test_admin_creates_event(admin):
    """A new event has every seat free, its price as a string and version 1."""
    reply = await admin.post(EVENTS, json=event_body(date="2099-06-01T19:30:00+02:00"))
    assert reply.status == 201
    event = reply.data
    assert event["available_seats"] == event["total_seats"] == 100
    assert event["price"] == "25.00"
    assert event["version"] == 1
    assert datetime.fromisoformat(event["date"]) == datetime.fromisoformat(
        "2099-06-01T19:30:00+02:00"
    )
    assert datetime.fromisoformat(event["date"]).tzinfo is not None
    fetched = await admin.get(f"{EVENTS}/{event['id']}")
    assert event_only(fetched.data) == event


async def test_create_without_timezone_is_422(admin):
    """A date without a time zone offset is refused, naming the date."""
    reply = await admin.post(EVENTS, json=event_body(date="2099-06-01T19:30:00"))
    assert reply.status == 422
    assert reply.fields == ["date"]


# --- browse ----------------------------------------------------------------------


async def test_list_is_ordered_by_date(client, make_event, admin):
    """Events come back soonest first, whatever order they were created in."""
    await make_event(title="Later", date="2099-03-01T00:00:00+00:00")
    await make_event(title="Soonest", date="2099-01-01T00:00:00+00:00")
    await make_event(title="Middle", date="2099-02-01T00:00:00+00:00")
    assert titles(await admin.get(EVENTS)) == ["Soonest", "Middle", "Later"]


async def test_list_pages_with_skip_and_limit(make_event, user):
    """skip and limit page through the events in date order."""
    for day in range(1, 6):
        await make_event(title=f"Day {day}", date=f"2099-01-0{day}T00:00:00+00:00")
    page = await user.get(EVENTS, params={"skip": 1, "limit": 2})
    assert titles(page) == ["Day 2", "Day 3"]
    assert titles(await user.get(EVENTS, params={"skip": 4, "limit": 2})) == ["Day 5"]
    assert titles(await user.get(EVENTS, params={"skip": 5})) == []


async def test_search_is_case_insensitive_over_title_venue_and_description(make_event, user):
    """q finds text in the title, the venue or the description, ignoring case."""
    await make_event(title="Jazz Night", venue="Hall", description=None)
    await make_event(title="Opera", venue="Jazz Cellar", description=None)
    await make_event(title="Rock", venue="Arena", description="with a JAZZ encore")
    await make_event(title="Folk", venue="Barn", description="acoustic")
    found = await user.get(EVENTS, params={"q": "jAzZ"})
    assert sorted(titles(found)) == ["Jazz Night", "Opera", "Rock"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [("100%", ["100% Rock"]), ("a_b", ["a_b"]), ("%", ["100% Rock"]), ("\\", ["back\\slash"])],
)
async def test_search_treats_wildcards_literally(make_event, user, q, expected):
    """%, _ and backslash in q match themselves, not any text."""
    for title in ("100% Rock", "1000 Rock", "a_b", "axb", "back\\slash"):
        await make_event(title=title, description=None, venue=None)
    assert titles(await user.get(EVENTS, params={"q": q})) == expected


async def test_date_from_and_date_to_filter(make_event, user):
    """date_from and date_to keep only events inside the range, both ends included."""
    await make_event(title="Jan", date="2099-01-15T00:00:00+00:00")
    await make_event(title="Feb", date="2099-02-15T00:00:00+00:00")
    await make_event(title="Mar", date="2099-03-15T00:00:00+00:00")
    since = await user.get(EVENTS, params={"date_from": "2099-02-15T00:00:00+00:00"})
    assert titles(since) == ["Feb", "Mar"]
    until = await user.get(EVENTS, params={"date_to": "2099-02-15T00:00:00Z"})
    assert titles(until) == ["Jan", "Feb"]
    both = await user.get(
        EVENTS, params={"date_from": "2099-02-01T00:00:00Z", "date_to": "2099-02-28T00:00:00Z"}
    )
    assert titles(both) == ["Feb"]


async def test_upcoming_hides_past_events(make_event, user):
    """upcoming=true leaves out events that have already started."""
    await make_event(title="Past", date=PAST)
    await make_event(title="Future")
    assert titles(await user.get(EVENTS)) == ["Past", "Future"]
    assert titles(await user.get(EVENTS, params={"upcoming": "true"})) == ["Future"]


async def test_available_lists_upcoming_events_with_seats(make_event, user):
    """/events/available hides past events, and an event leaves it when it sells out."""
    await make_event(title="Past", date=PAST)
    small = await make_event(title="Small", total_seats=2)
    await make_event(title="Big")
    assert titles(await user.get(f"{EVENTS}/available")) == ["Small", "Big"]
    await sell(user, small["id"], 2)
    assert titles(await user.get(f"{EVENTS}/available")) == ["Big"]


async def test_unknown_event_is_404(user):
    """Asking for an event that does not exist is a 404."""
    reply = await user.get(f"{EVENTS}/999999")
    assert reply.status == 404


# --- edit ------------------------------------------------------------------------


async def test_put_replaces_every_field(admin, make_event):
    """PUT sets every field; ones left out of the body become empty."""
    event = await make_event()
    new = {
        "title": "Renamed",
        "date": "2099-07-01T20:00:00+00:00",
        "total_seats": 80,
        "price": "9.5",
    }
    reply = await admin.call("PUT", f"{EVENTS}/{event['id']}", json=new)
    assert reply.status == 200, reply.body
    got = reply.data
    assert (got["title"], got["description"], got["venue"]) == ("Renamed", None, None)
    assert (got["total_seats"], got["available_seats"], got["price"]) == (80, 80, "9.50")
    assert datetime.fromisoformat(got["date"]) == datetime.fromisoformat(new["date"])
    assert got["version"] == 2
    assert event_only((await admin.get(f"{EVENTS}/{event['id']}")).data) == got


async def test_patch_changes_only_given_fields(admin, make_event):
    """PATCH with only a price changes the price and the version, nothing else."""
    event = await make_event()
    reply = await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={"price": "30"})
    assert reply.status == 200
    changed = {k for k in event if reply.data[k] != event[k]}
    assert changed == {"price", "version", "updated_at"}
    assert reply.data["price"] == "30.00"
    assert reply.data["version"] == 2


async def test_patch_title_null_is_422(admin, make_event):
    """A title cannot be removed: null is a 422 naming title, and nothing changes."""
    event = await make_event()
    reply = await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={"title": None})
    assert reply.status == 422
    assert reply.fields == ["title"]
    assert event_only((await admin.get(f"{EVENTS}/{event['id']}")).data) == event


async def test_patch_description_null_clears_it(admin, make_event):
    """PATCH description null removes the description."""
    event = await make_event(description="to be removed")
    reply = await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={"description": None})
    assert reply.status == 200
    assert reply.data["description"] is None
    assert (await admin.get(f"{EVENTS}/{event['id']}")).data["description"] is None


async def test_empty_patch_returns_event_unchanged(admin, make_event):
    """PATCH {} answers the event as it is, without bumping its version."""
    event = await make_event()
    reply = await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={})
    assert reply.status == 200
    assert reply.data == event


async def test_patch_unknown_event_is_404(admin):
    """Editing an event that does not exist is a 404."""
    reply = await admin.call("PATCH", f"{EVENTS}/999999", json={"total_seats": 5})
    assert reply.status == 404


# --- capacity --------------------------------------------------------------------


@pytest.fixture
async def thirty_sold(make_event, clerk):
    """An event of 100 seats with 30 sold at the counter."""
    event = await make_event(total_seats=100)
    await sell(clerk, event["id"], 30)
    return event


async def test_shrinking_capacity_keeps_sold_seats(admin, thirty_sold):
    """With 30 of 100 sold, total_seats 50 leaves 20 available."""
    reply = await admin.call("PATCH", f"{EVENTS}/{thirty_sold['id']}", json={"total_seats": 50})
    assert reply.status == 200
    assert (reply.data["total_seats"], reply.data["available_seats"]) == (50, 20)


async def test_capacity_below_sold_seats_is_409(admin, thirty_sold):
    """total_seats under the 30 sold is a 409 naming total_seats, and nothing changes."""
    path = f"{EVENTS}/{thirty_sold['id']}"
    before = (await admin.get(path)).data
    reply = await admin.call("PATCH", path, json={"total_seats": 29})
    assert reply.status == 409
    assert reply.fields == ["total_seats"]
    assert (await admin.get(path)).data == before


async def test_capacity_equal_to_sold_seats_sells_out(admin, user, thirty_sold):
    """total_seats equal to the 30 sold leaves none, and the event is sold out."""
    reply = await admin.call("PATCH", f"{EVENTS}/{thirty_sold['id']}", json={"total_seats": 30})
    assert reply.status == 200
    assert reply.data["available_seats"] == 0
    assert titles(await user.get(f"{EVENTS}/available")) == []


# --- delete ----------------------------------------------------------------------


async def test_delete_event_without_bookings(admin, make_event):
    """An event nobody booked can be deleted, and is then gone."""
    event = await make_event()
    reply = await admin.delete(f"{EVENTS}/{event['id']}")
    assert reply.status == 200
    assert (await admin.get(f"{EVENTS}/{event['id']}")).status == 404


async def test_delete_event_with_booking_waits_for_cancellation(admin, user, make_event):
    """A booked event cannot be deleted until its booking is cancelled."""
    event = await make_event()
    [booking_id] = await sell(user, event["id"], 2)
    refused = await admin.delete(f"{EVENTS}/{event['id']}")
    assert refused.status == 409
    assert (await admin.get(f"{EVENTS}/{event['id']}")).status == 200
    assert (await user.delete(f"/api/v1/bookings/{booking_id}")).status == 200
    assert (await admin.delete(f"{EVENTS}/{event['id']}")).status == 200
    assert (await admin.get(f"{EVENTS}/{event['id']}")).status == 404


# --- awkward text ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Robert'); DROP TABLE events;--",
        "Ünïcødé 🎭",
        "C:\\path\\to\\show \\x00 \\\\",
        "100% off_today %s %(title)s",
        '"quoted" `back` $1 $$ {braces}',
    ],
)
async def test_awkward_text_is_stored_verbatim(admin, make_event, db_rows, text):
    """SQL metacharacters, unicode, backslashes and percent signs come back unchanged."""
    event = await make_event(title=text, venue=text, description=text)
    got = (await admin.get(f"{EVENTS}/{event['id']}")).data
    assert (got["title"], got["venue"], got["description"]) == (text, text, text)
    assert db_rows("SELECT title, venue, description FROM events") == [(text, text, text)]
    assert titles(await admin.get(EVENTS, params={"q": text})) == [text]


async def test_nul_character_is_422_not_stored(admin, db_rows):
    """Text with a NUL character, which PostgreSQL cannot store, is a 422 naming the field."""
    reply = await admin.post("/api/v1/events", json=event_body(venue="Hall\x00B"))
    assert reply.status == 422
    assert reply.fields == ["venue"]
    assert db_rows("SELECT count(*) FROM events") == [(0,)]


@pytest.mark.parametrize("date", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00"])
async def test_date_beyond_readable_years_is_422(admin, make_event, date):
    """A date whose UTC instant falls outside years 1-9999 is refused, and listing still works."""
    await make_event()
    reply = await admin.post(EVENTS, json=event_body(date=date))
    assert reply.status == 422
    assert reply.fields == ["date"]
    assert len((await admin.get(EVENTS)).data) == 1


# --- seated events ---------------------------------------------------------------


async def seated(make_event, venue, **overrides):
    """A seated event on ``venue``: no total_seats, the plan's seats."""
    return await make_event(total_seats=None, venue_id=venue["id"], **overrides)


def inventory(db_rows, event_id):
    """The event's seat ids in its inventory, and how many are free."""
    found = db_rows(
        "SELECT seat_id, state FROM event_seats WHERE event_id = %s ORDER BY seat_id", event_id
    )
    return [seat for seat, _ in found], sum(state == "free" for _, state in found)


async def test_seated_event_takes_its_plans_seats(admin, make_event, db_rows):
    """A seated event's total is its venue's 26 seats, all free, one inventory row each;
    a general-admission event says venue_id null, in the list and alone."""
    venue = await seated_venue(admin)
    event = await seated(make_event, venue)
    assert (event["venue_id"], event["total_seats"], event["available_seats"]) == (
        venue["id"], 26, 26,
    )  # fmt: skip
    seats, free = inventory(db_rows, event["id"])
    assert len(seats) == free == 26
    ga = await make_event()
    assert ga["venue_id"] is None
    listed = {e["id"]: e["venue_id"] for e in (await admin.get(EVENTS)).data}
    assert listed == {event["id"]: venue["id"], ga["id"]: None}
    assert (await admin.get(f"{EVENTS}/{event['id']}")).data["venue_id"] == venue["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"venue_id": 1, "total_seats": 10}, "total_seats"),
        ({"total_seats": None}, "total_seats"),
        ({"total_seats": None, "venue_id": 999999}, "venue_id"),
        ({"total_seats": None, "venue_id": 0}, "venue_id"),
        ({"total_seats": None, "venue_id": True}, "venue_id"),
    ],
    ids=["both", "neither", "unknown venue", "zero", "boolean"],
)
async def test_seated_create_problems_are_422s_naming_the_field(admin, body, field):
    """Both total_seats and venue_id, neither, or a venue that does not exist: a 422
    naming the field, and no event."""
    await seated_venue(admin)
    reply = await admin.post(EVENTS, json=event_body(**body))
    assert reply.status == 422, reply.body
    assert reply.fields == [field]
    assert (await admin.get(EVENTS)).data == []


async def test_a_venue_without_seats_is_a_422_naming_venue_id(admin, db_execute):
    """A venue whose seats are all retired cannot seat an event."""
    venue = await seated_venue(admin)
    db_execute("UPDATE seats SET retired_at = now() WHERE venue_id = %s", venue["id"])
    reply = await admin.post(EVENTS, json=event_body(total_seats=None, venue_id=venue["id"]))
    assert reply.status == 422 and reply.fields == ["venue_id"], reply.body


async def test_a_seated_events_total_cannot_change(admin, make_event):
    """PATCH or PUT total_seats on a seated event is a 422 naming total_seats."""
    venue = await seated_venue(admin)
    event = await seated(make_event, venue)
    path = f"{EVENTS}/{event['id']}"
    reply = await admin.call("PATCH", path, json={"total_seats": 30})
    assert reply.status == 422 and reply.fields == ["total_seats"], reply.body
    both = event_body(venue_id=venue["id"], total_seats=30)
    reply = await admin.call("PUT", path, json=both)
    assert reply.status == 422 and reply.fields == ["total_seats"], reply.body
    # PUT without total_seats keeps it seated; other fields change.
    reply = await admin.call(
        "PUT", path, json=event_body(total_seats=None, venue_id=venue["id"], title="Again")
    )
    assert reply.status == 200, reply.body
    assert (reply.data["title"], reply.data["total_seats"], reply.data["version"]) == (
        "Again",
        26,
        2,
    )


async def test_moving_an_event_rebuilds_its_inventory(admin, make_event, db_rows):
    """Without tickets an event moves between plans and to and from general admission:
    its seats are the new plan's, its total and available follow, each move audited."""
    first = await seated_venue(admin)
    second = await seated_venue(admin, name="The Annex", sections=small_plan()["sections"][:1])
    event = await seated(make_event, first)
    path = f"{EVENTS}/{event['id']}"
    reply = await admin.call("PATCH", path, json={"venue_id": second["id"]})
    assert reply.status == 200, reply.body
    assert (reply.data["venue_id"], reply.data["total_seats"], reply.data["available_seats"]) == (
        second["id"], 18, 18,
    )  # fmt: skip
    seats, free = inventory(db_rows, event["id"])
    [(plan_seats,)] = db_rows(
        "SELECT array_agg(id ORDER BY id) FROM seats WHERE venue_id = %s AND retired_at IS NULL",
        second["id"],
    )
    assert seats == plan_seats and free == 18
    # To general admission: no inventory, the total given.
    reply = await admin.call("PATCH", path, json={"venue_id": None, "total_seats": 40})
    assert reply.status == 200, reply.body
    assert (reply.data["venue_id"], reply.data["total_seats"]) == (None, 40)
    assert inventory(db_rows, event["id"]) == ([], 0)
    # And back, by PUT.
    reply = await admin.call("PUT", path, json=event_body(total_seats=None, venue_id=first["id"]))
    assert reply.status == 200, reply.body
    assert (reply.data["venue_id"], reply.data["total_seats"]) == (first["id"], 26)
    assert len(inventory(db_rows, event["id"])[0]) == 26
    records = await admin.get("/api/v1/audit", params={"action": "event.update"})
    moves = [r["details"] for r in records.data if "venue_id" in r["details"]["after"]]
    assert [m["after"]["venue_id"] for m in moves] == [first["id"], None, second["id"]]


async def test_an_event_with_tickets_cannot_move(admin, make_event, db_rows, database_url):
    """Once a ticket is sold (or held) venue_id is a 409 naming it, and nothing changes;
    after the order is cancelled the move is allowed."""
    venue = await seated_venue(admin)
    other = await seated_venue(admin, name="Elsewhere")
    event = await seated(make_event, venue)
    order = await place_order(admin, event_id=event["id"], lines=[{"quantity": 2}])
    assert order.status == 201, order.body
    path = f"{EVENTS}/{event['id']}"
    for change in ({"venue_id": other["id"]}, {"venue_id": None}):
        reply = await admin.call("PATCH", path, json=change)
        assert reply.status == 409 and reply.fields == ["venue_id"], reply.body
    after = event_only((await admin.get(path)).data)
    assert (after["venue_id"], after["available_seats"]) == (venue["id"], 24)
    assert inventory(db_rows, event["id"])[1] == 24
    # A general-admission event with a booking cannot become seated either.
    ga = await make_event()
    assert (
        await admin.post("/api/v1/bookings", json={"event_id": ga["id"], "quantity": 1})
    ).status == 201
    reply = await admin.call("PATCH", f"{EVENTS}/{ga['id']}", json={"venue_id": venue["id"]})
    assert reply.status == 409, reply.body


async def test_unchanged_venue_id_is_no_move(admin, make_event, database_url):
    """PATCH with the venue_id the event has changes nothing, even with tickets sold."""
    venue = await seated_venue(admin)
    event = await seated(make_event, venue)
    assert (await place_order(admin, event_id=event["id"], lines=[{"quantity": 1}])).status == 201
    reply = await admin.call(
        "PATCH", f"{EVENTS}/{event['id']}", json={"venue_id": venue["id"], "title": "Same"}
    )
    assert reply.status == 200, reply.body
    assert (reply.data["title"], reply.data["available_seats"]) == ("Same", 25)


async def test_only_admins_seat_events(actors, admin, make_event):
    """Clerks and users cannot create a seated event or move one (403)."""
    venue = await seated_venue(admin)
    event = await make_event()
    for role in ("clerk", "user"):
        actor = await actors.new(role)
        reply = await actor.post(EVENTS, json=event_body(total_seats=None, venue_id=venue["id"]))
        assert reply.status == 403
        reply = await actor.call("PATCH", f"{EVENTS}/{event['id']}", json={"venue_id": venue["id"]})
        assert reply.status == 403


def _notifications(conn, channel_count, timeout=10.0):
    """Wait (select, not sleep) for ``channel_count`` notifications; answer them."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < channel_count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {got}"
        select.select([conn], [], [], left)
        conn.poll()
        got.extend((n.channel, json.loads(n.payload)) for n in conn.notifies)
        conn.notifies.clear()
    return got


async def test_live_payload_carries_venue_id_and_a_move_resyncs_seats(
    admin, make_event, database_url
):
    """The events notification carries venue_id; a move is an "updated" change, followed
    by the seats channel's resync at the same version."""
    venue = await seated_venue(admin)
    event = await make_event()
    conn = psycopg2.connect(database_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("LISTEN boxoffice_events; LISTEN boxoffice_seats")
        reply = await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={"venue_id": venue["id"]})
        assert reply.status == 200, reply.body
        (events_channel, change), (seats_channel, seats) = _notifications(conn, 2)
    finally:
        conn.close()
    assert (events_channel, change["type"], change["event"]["venue_id"]) == (
        "boxoffice_events", "updated", venue["id"],
    )  # fmt: skip
    assert (seats_channel, seats) == (
        "boxoffice_seats",
        {"id": event["id"], "version": change["version"], "resync": True},
    )
