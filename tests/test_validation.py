"""Bad input is always a clear 4xx envelope that names the field at fault, never a 500."""

import pytest
from support import call, event_body, event_only

EVENTS = "/api/v1/events"
BOOKINGS = "/api/v1/bookings"
JSON = {"Content-Type": "application/json"}


def assert_invalid(reply, field, status=422):
    """The reply is a 4xx naming ``field`` first among data.errors."""
    assert reply.status == status, reply.body
    assert reply.fields, reply.body
    assert reply.fields[0] == field, reply.body


# --- the body itself --------------------------------------------------------------

BAD_BODIES = {
    "malformed": b'{"title": "x",',
    "empty": b"",
    "whitespace": b"  \n ",
    "array": b"[]",
    "string": b'"an event"',
    "number": b"42",
    "null": b"null",
    "invalid utf-8": b'{"title": "\xff\xfe"}',
    "deeply nested": b"[" * 30_000 + b"]" * 30_000,
    "a 5,000-digit number": b'{"total_seats": ' + b"9" * 5_000 + b"}",
}


@pytest.mark.parametrize("raw", BAD_BODIES.values(), ids=BAD_BODIES.keys())
async def test_unusable_body_is_named_body(admin, raw):
    """A body that is not a JSON object is a 400 or 422 naming "body"."""
    reply = await admin.post(EVENTS, data=raw, headers=JSON)
    assert reply.status in (400, 422), reply.body
    assert reply.fields == ["body"], reply.body


async def test_body_over_the_limit_is_413(admin, config):
    """A body past max_body_bytes is refused with 413 in the envelope."""
    big = event_body(description="x" * (config.max_body_bytes + 1))
    reply = await admin.post(EVENTS, json=big)
    assert reply.status == 413
    assert "too large" in reply.body["message"].lower()


async def test_unknown_body_field_is_named(admin):
    """A typo in a field name is a 422 "unknown field", not silently ignored."""
    reply = await admin.post(EVENTS, json=event_body(titel="Typo"))
    assert_invalid(reply, "titel")
    assert reply.data["errors"][0]["message"] == "unknown field"


async def test_every_bad_field_is_listed(admin):
    """Several bad fields are all reported, each by name."""
    reply = await admin.post(EVENTS, json=event_body(title="", total_seats=0, price="abc"))
    assert reply.status == 422
    assert set(reply.fields) == {"title", "total_seats", "price"}


# --- field-by-field fuzz ----------------------------------------------------------

EVENT_FUZZ = [
    ("title", 5),
    ("title", True),
    ("title", None),
    ("title", ""),
    ("title", "   "),
    ("title", "x" * 256),
    ("title", ["a list"]),
    ("title", "nul \x00 byte"),
    ("title", "lone \ud800 surrogate"),
    ("description", "x" * 1001),
    ("description", 7),
    ("date", "tomorrow"),
    ("date", "2099-06-01T19:30:00"),
    ("date", "2099-13-01T19:30:00+00:00"),
    ("date", None),
    ("venue", "x" * 256),
    ("venue", {"hall": 1}),
    ("total_seats", "many"),
    ("total_seats", 0),
    ("total_seats", -1),
    ("total_seats", 1_000_001),
    ("total_seats", 10**30),
    ("total_seats", 2.5),
    ("total_seats", True),
    ("total_seats", None),
    ("price", "abc"),
    ("price", -1),
    ("price", "-0.01"),
    ("price", 10**12),
    ("price", "1.005"),
    ("price", "NaN"),
    ("price", "Infinity"),
    ("price", True),
    ("price", None),
]


@pytest.mark.parametrize(("field", "value"), EVENT_FUZZ, ids=repr)
async def test_bad_event_field_is_named(admin, field, value):
    """Each bad value in an event body is a 422 naming its field."""
    reply = await admin.post(EVENTS, json=event_body(**{field: value}))
    assert_invalid(reply, field)


@pytest.mark.parametrize(("field", "value"), EVENT_FUZZ, ids=repr)
async def test_bad_event_patch_field_is_named(admin, make_event, field, value):
    """A PATCH with a bad value is refused too and changes nothing."""
    event = await make_event()
    reply = await admin.call("PATCH", f"{EVENTS}/{event['id']}", json={field: value})
    assert_invalid(reply, field)
    assert event_only((await admin.get(f"{EVENTS}/{event['id']}")).data) == event


BOOKING_FUZZ = [
    ("event_id", "abc"),
    ("event_id", 0),
    ("event_id", -5),
    ("event_id", 2**63),
    ("event_id", 2**70),
    ("event_id", 1.5),
    ("event_id", True),
    ("event_id", None),
    ("event_id", [1]),
    ("quantity", 0),
    ("quantity", -3),
    ("quantity", "two"),
    ("quantity", 2**31),
    ("quantity", 10**30),
    ("quantity", 1.5),
    ("quantity", True),
    ("quantity", None),
    ("customer_name", ""),
    ("customer_name", "   "),
    ("customer_name", "x" * 256),
    ("customer_name", 5),
    ("customer_name", "nul \x00 byte"),
    ("customer_name", "lone \udfff surrogate"),
]


@pytest.mark.parametrize(("field", "value"), BOOKING_FUZZ, ids=repr)
async def test_bad_booking_field_is_named(clerk, make_event, db_rows, field, value):
    """Each bad value in a booking body is a 422 naming its field, and books nothing."""
    event = await make_event(total_seats=5)
    body = {"event_id": event["id"], "quantity": 1, "customer_name": "Ann", field: value}
    reply = await clerk.post(BOOKINGS, json=body)
    assert_invalid(reply, field)
    assert db_rows("SELECT count(*) FROM bookings") == [(0,)]


async def test_unknown_booking_field_is_named(user, make_event):
    """A misspelt "quantiy" is refused rather than booking the default one seat."""
    event = await make_event()
    reply = await user.post(BOOKINGS, json={"event_id": event["id"], "quantiy": 3})
    assert_invalid(reply, "quantiy")
    assert reply.data["errors"][0]["message"] == "unknown field"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/auth/register", {"username": "nulpass", "password": "pass\x00word1"}, "password"),
        ("/api/v1/auth/login", {"username": "ad\x00min", "password": "whatever1"}, "username"),
        ("/api/v1/auth/refresh", {"refresh_token": "a\x00b"}, "refresh_token"),
    ],
)
async def test_nul_character_in_auth_body_is_named(client, path, body, field):
    """Text with a NUL character is refused, never cut short or stored."""
    assert_invalid(await call(client, "POST", path, json=body), field)


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/register"])
async def test_a_huge_number_in_an_auth_body_is_named_body(client, path):
    """Python refuses to convert a number of more than 4,300 digits: that is the client's
    unusable body (a 400 naming it, like malformed JSON), never a 500."""
    raw = b'{"username": ' + b"1" * 5_000 + b', "password": "whatever1"}'
    reply = await call(client, "POST", path, data=raw, headers=JSON)
    assert reply.status == 400, reply.body
    assert reply.fields == ["body"], reply.body
    assert "digits" in reply.data["errors"][0]["message"], reply.body


# --- path parameters --------------------------------------------------------------

BAD_IDS = ["abc", "-1", "0", "99999999999999999999999", "9223372036854775808", "1.5", "1e3"]
BAD_IDS += ["%F0%9F%8E%AD", "%D9%A3", " 1", pytest.param("9" * 5_000, id="5000 digits")]


@pytest.mark.parametrize("raw", BAD_IDS)
async def test_bad_event_id_in_path_is_named(client, raw):
    """/events/<not a positive bigint> is a 422 naming event_id."""
    assert_invalid(await call(client, "GET", f"{EVENTS}/{raw}"), "event_id")


@pytest.mark.parametrize("raw", BAD_IDS)
async def test_bad_booking_id_in_path_is_named(user, raw):
    """/bookings/<not a positive bigint> is a 422 naming booking_id."""
    assert_invalid(await user.get(f"{BOOKINGS}/{raw}"), "booking_id")
    assert_invalid(await user.delete(f"{BOOKINGS}/{raw}"), "booking_id")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", f"{EVENTS}/abc"),
        ("PATCH", f"{EVENTS}/-1"),
        ("DELETE", f"{EVENTS}/0"),
        ("GET", f"{BOOKINGS}/event/1.5"),
    ],
)
async def test_bad_event_id_on_admin_routes_is_named(admin, method, path):
    """Admin routes name event_id too, whatever the method."""
    body = event_body() if method in ("PUT", "PATCH") else None
    assert_invalid(await admin.call(method, path, json=body), "event_id")


async def test_largest_id_is_a_clean_404(client):
    """The largest bigint is a valid id that simply does not exist."""
    reply = await call(client, "GET", f"{EVENTS}/{2**63 - 1}")
    assert reply.status == 404


# --- query parameters -------------------------------------------------------------

BAD_QUERIES = [
    ("skip", "-1"),
    ("skip", "abc"),
    ("skip", str(2**31)),
    ("limit", "0"),
    ("limit", "100000"),
    ("limit", "abc"),
    ("limit", "1.5"),
    ("date_from", "notadate"),
    ("date_to", "2099-01-01"),
    ("q", "x" * 101),
    ("q", "nul \x00 byte"),
    ("upcoming", "perhaps"),
]


@pytest.mark.parametrize(("name", "value"), BAD_QUERIES, ids=repr)
async def test_bad_query_param_is_named(client, name, value):
    """A bad query parameter on /events is a 422 naming it."""
    reply = await call(client, "GET", EVENTS, params={name: value})
    assert_invalid(reply, name)


@pytest.mark.parametrize(
    ("path", "name", "value"),
    [
        (BOOKINGS, "status", "bogus"),
        (BOOKINGS, "limit", "0"),
        (f"{BOOKINGS}/all", "skip", "-1"),
        ("/api/v1/users", "limit", "501"),
    ],
)
async def test_bad_query_param_on_staff_lists_is_named(admin, path, name, value):
    """The paged lists of bookings and users name a bad parameter as well."""
    assert_invalid(await admin.get(path, params={name: value}), name)


async def test_unknown_query_params_are_ignored(client, make_event):
    """A cache buster or other unknown parameter does not break a listing."""
    await make_event()
    reply = await call(client, "GET", EVENTS, params={"_": "1700000000", "colour": "red"})
    assert reply.status == 200
    assert len(reply.data) == 1


# --- routes, methods and request ids ----------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/events", "/api/v1/events/1/x"])
async def test_unknown_route_is_404_envelope(client, path):
    """An unknown path is a 404 in the envelope."""
    reply = await call(client, "GET", path)
    assert reply.status == 404
    assert reply.body["message"] == "Not found"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", BOOKINGS, {"GET", "POST"}),
        ("DELETE", EVENTS, {"GET", "POST"}),
        ("POST", "/", {"GET"}),
        ("GET", "/api/v1/auth/login", {"POST"}),
    ],
)
async def test_wrong_method_is_405_with_allow(client, method, path, allowed):
    """A known path with the wrong method is a 405 envelope with an Allow header."""
    reply = await call(client, method, path)
    assert reply.status == 405
    listed = {m.strip() for m in reply.headers["Allow"].split(",")}
    assert allowed <= listed


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", EVENTS), ("GET", "/nope"), ("POST", EVENTS), ("GET", f"{EVENTS}/x")],
)
async def test_every_response_has_a_request_id(client, method, path):
    """Successes and errors alike carry an X-Request-ID."""
    reply = await call(client, method, path)
    assert len(reply.headers["X-Request-ID"]) >= 16


async def test_request_ids_differ(client):
    """Two requests get two different generated ids."""
    first = await call(client, "GET", "/")
    second = await call(client, "GET", "/")
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", f"{EVENTS}/abc")])
async def test_client_request_id_is_echoed(client, method, path):
    """A request id the client sends comes back unchanged, on errors too."""
    reply = await call(client, method, path, headers={"X-Request-ID": "trace-abc-123"})
    assert reply.headers["X-Request-ID"] == "trace-abc-123"


# --- the URL and the headers -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field"),
    [
        (EVENTS + "?search=" + "x" * 9_000, "query"),
        (EVENTS + "?" + "&".join(f"p{i}=1" for i in range(2_000)), "query"),
        ("/api/v1/" + "x" * 9_000, "path"),
        ("/api/v1/ws?token=" + "x" * 60_000, "query"),
    ],
    ids=["long parameter", "many parameters", "long path", "long websocket token"],
)
async def test_a_url_over_8190_bytes_is_a_414_envelope_naming_it(client, url, field):
    """aiohttp's own answer to a long request line is a plain-text 400; ours is the
    envelope, with the part of the URL at fault."""
    reply = await call(client, "GET", url)
    assert reply.status == 414, reply.body
    assert reply.fields == [field], reply.body


async def test_a_header_over_8190_bytes_is_a_431_envelope_naming_it(client):
    reply = await call(client, "GET", EVENTS, headers={"X-Padding": "x" * 9_000})
    assert reply.status == 431, reply.body
    assert reply.fields == ["X-Padding"], reply.body


async def test_a_url_at_the_limit_is_served(client):
    url = EVENTS + "?search="
    reply = await call(client, "GET", url + "x" * (8190 - len(url)))
    assert reply.status == 200, reply.body
