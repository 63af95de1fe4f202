"""Security: forged access tokens (HTTP and websocket), oversized bodies, SQL metacharacters
in every text field and filter, and CORS.

Covered elsewhere, not repeated here:
- expired, other-key, ``alg: none`` and wrong-claim tokens over HTTP: tests/test_auth.py
  (test_expired_access_token_is_401_expired, test_tokens_not_signed_by_the_server_are_401,
  test_tokens_with_wrong_claims_are_401);
- login throttling, 429 with Retry-After: tests/test_auth.py (test_repeated_failures_lock_
  the_username and the tests after it);
- a body past max_body_bytes with a Content-Length: tests/test_validation.py;
- another user's booking (read, cancel): tests/test_roles.py; their ticket page:
  tests/test_tickets.py; confirming their hold: tests/test_holds.py;
- missing, garbage and expired tokens on the websocket: tests/test_live.py.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import aiohttp
import jwt
import pytest
from support import access_claims, call, event_body, login, register

from server.app import create_app
from server.config import Config, ConfigError

API = "/api/v1"
EVENTS = f"{API}/events"
BOOKINGS = f"{API}/bookings"
WS = f"{API}/ws"

SECRET_ADMIN_PATH = f"{API}/users"  # admin only: a forged admin role would show


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def tampered(token: str, **changes: Any) -> str:
    """The token with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, b64({**claims, **changes}), signature])


def hs512(claims: dict[str, Any], secret: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT finds the test key short for SHA-512
        return jwt.encode(claims, secret, "HS512")


def bad_tokens(who: Any, config: Config) -> dict[str, str]:
    """Tokens the server must refuse, by what is wrong with them."""
    secret = config.jwt_secret or ""
    now = int(time.time())
    return {
        "tampered-role": tampered(who.token, role="admin"),
        "tampered-sub": tampered(who.token, sub=str(who.user_id + 1)),
        "tampered-exp": tampered(who.token, exp=now + 10**6),
        "expired": jwt.encode(access_claims(who, iat=now - 900, exp=now - 60), secret, "HS256"),
        "alg-none": jwt.encode(access_claims(who, role="admin"), None, algorithm="none"),
        "alg-none-unsigned-real-header": ".".join(
            [b64({"alg": "none", "typ": "JWT"}), b64(access_claims(who, role="admin")), ""]
        ),
        "wrong-key": jwt.encode(
            access_claims(who, role="admin"), "not-the-key-" + "z" * 40, "HS256"
        ),
        "hs512-real-key": hs512(access_claims(who), secret),
        "no-sub": jwt.encode(access_claims(who, sub=None), secret, "HS256"),
        "no-exp": jwt.encode(access_claims(who, exp=None), secret, "HS256"),
        "no-iat": jwt.encode(access_claims(who, iat=None), secret, "HS256"),
        "no-typ": jwt.encode(access_claims(who, typ=None), secret, "HS256"),
        "typ-refresh": jwt.encode(access_claims(who, typ="refresh"), secret, "HS256"),
        "role-root": jwt.encode(access_claims(who, role="root"), secret, "HS256"),
        "no-role": jwt.encode(access_claims(who, role=None), secret, "HS256"),
        "sub-not-a-number": jwt.encode(access_claims(who, sub="1 OR 1=1"), secret, "HS256"),
        "not-a-jwt": "a.b.c",
    }


# --- access tokens ----------------------------------------------------------------


async def test_the_real_token_works(admin):
    """Control: the unaltered token reads the admin-only list."""
    assert (await admin.get(SECRET_ADMIN_PATH)).status == 200


async def test_every_bad_token_is_a_401_envelope(client, user, config):
    """Tampered, expired, unsigned, wrongly signed and wrongly claimed tokens: all 401."""
    for kind, token in bad_tokens(user, config).items():
        for path in (f"{API}/auth/me", SECRET_ADMIN_PATH):
            reply = await call(client, "GET", path, token=token)
            assert reply.status == 401, (kind, path, reply.body)
            assert reply.body["status"] == "error" and reply.data is None, kind
            assert reply.headers["WWW-Authenticate"] == "Bearer", kind


async def test_every_bad_token_is_refused_by_the_websocket(client, user, config):
    """The same tokens, in the header or the query string, close the socket with 4401."""
    for kind, token in bad_tokens(user, config).items():
        for headers, query in (({"Authorization": f"Bearer {token}"}, ""), ({}, f"?token={token}")):
            ws = await client.ws_connect(WS + query, headers=headers)
            msg = await ws.receive(timeout=5)
            if msg.type == aiohttp.WSMsgType.TEXT:  # never a hello for a bad token
                pytest.fail(f"{kind}: got {msg.data}")
            assert msg.type == aiohttp.WSMsgType.CLOSE, (kind, msg)
            assert msg.data == 4401, (kind, msg)
            await ws.close()


# --- oversized bodies --------------------------------------------------------------


async def test_oversized_login_body_is_413_before_anything_else(client, config):
    """Even without a token, a body past the limit is a 413 envelope, not a 5xx."""
    body = {"username": "x", "password": "y" * (config.max_body_bytes + 1)}
    reply = await call(client, "POST", f"{API}/auth/login", json=body)
    assert reply.status == 413
    assert reply.body["message"] == "Request body too large"


async def test_oversized_chunked_body_is_413(admin, config):
    """A body sent without Content-Length (chunked) is cut off at the limit too."""

    async def chunks() -> Any:
        piece = b" " * 4096
        for _ in range(config.max_body_bytes // len(piece) + 2):
            yield piece

    reply = await admin.post(EVENTS, data=chunks(), headers={"Content-Type": "application/json"})
    assert reply.status == 413


# --- SQL metacharacters -----------------------------------------------------------

NASTY = [
    "'; DROP TABLE events; --",
    "Robert'); DROP TABLE bookings;--",
    '" OR "1"="1',
    "100% _real_ \\ backslash \\\\ two",
    "%",
    "_",
    "\\",
    "' OR 1=1 --",
    "$1 $$quoted$$ :name %(name)s {0}",
    "Łódź — café 東京 🎟️ ‮rtl",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("text", NASTY)
async def test_event_text_is_stored_and_returned_verbatim(admin, client, db_rows, text):
    body = event_body(title=text, venue=text, description=text)
    created = await admin.post(EVENTS, json=body)
    assert created.status == 201, created.body
    for field in ("title", "venue", "description"):
        assert created.data[field] == text
    event_id = created.data["id"]
    got = await call(client, "GET", f"{EVENTS}/{event_id}")
    assert (got.data["title"], got.data["venue"], got.data["description"]) == (text,) * 3
    assert db_rows("SELECT title, venue, description FROM events WHERE id = %s", event_id) == [
        (text, text, text)
    ]
    patched = await admin.call(
        "PATCH", f"{EVENTS}/{event_id}", json={"title": text + "!", "venue": text}
    )
    assert patched.status == 200 and patched.data["title"] == text + "!"
    assert db_rows("SELECT count(*) FROM events") == [(1,)]  # nothing dropped, nothing extra


async def test_event_search_takes_metacharacters_literally(admin, client):
    """q matches the text itself: % and _ are no wildcards, a quote breaks nothing."""
    titles = ["100% sure", "1000 sure", "a_b", "axb", "back\\slash", "backslash", "it's", "its"]
    ids = {}
    for title in titles:
        ids[title] = (await admin.post(EVENTS, json=event_body(title=title))).data["id"]

    async def search(q: str) -> set[str]:
        reply = await call(client, "GET", EVENTS, params={"q": q})
        assert reply.status == 200, reply.body
        return {e["title"] for e in reply.data}

    assert await search("%") == {"100% sure"}
    assert await search("0% s") == {"100% sure"}
    assert await search("_") == {"a_b"}
    assert await search("a_b") == {"a_b"}
    assert await search("\\") == {"back\\slash"}
    assert await search("k\\s") == {"back\\slash"}
    assert await search("'") == {"it's"}
    assert await search("'; DROP TABLE events; --") == set()
    assert await search("' OR 1=1 --") == set()
    assert await search("") == set(titles)  # an empty q filters nothing
    assert len((await call(client, "GET", EVENTS)).data) == len(titles)


@pytest.mark.parametrize("name", NASTY)
async def test_customer_name_is_stored_and_returned_verbatim(clerk, make_event, db_rows, name):
    event = await make_event()
    made = await clerk.post(BOOKINGS, json={"event_id": event["id"], "customer_name": name})
    assert made.status == 201, made.body
    assert made.data["customer_name"] == name
    got = await clerk.get(f"{BOOKINGS}/{made.data['id']}")
    assert got.data["customer_name"] == name
    assert db_rows("SELECT customer_name FROM bookings") == [(name,)]


async def test_customer_filter_takes_metacharacters_literally(clerk, admin, make_event):
    event = await make_event()
    names = ["50% off", "500 off", "o_k", "oxk", "O'Brien", "OBrien", "a\\b", "ab"]
    for name in names:
        reply = await clerk.post(BOOKINGS, json={"event_id": event["id"], "customer_name": name})
        assert reply.status == 201, reply.body

    for path in (f"{BOOKINGS}/all", f"{BOOKINGS}/event/{event['id']}"):

        async def customers(text: str, path: str = path) -> set[str]:
            reply = await admin.get(path, params={"customer": text})
            assert reply.status == 200, reply.body
            return {b["customer_name"] for b in reply.data}

        assert await customers("%") == {"50% off"}
        assert await customers("_") == {"o_k"}
        assert await customers("'") == {"O'Brien"}
        assert await customers("o'brien") == {"O'Brien"}  # case-insensitive, still literal
        assert await customers("\\") == {"a\\b"}
        assert await customers("'; DROP TABLE bookings; --") == set()
        assert len(await customers("")) == len(names)


@pytest.mark.parametrize("username", ["o_neil", "a.b-c", "100_percent", "x__y", "_._"])
async def test_usernames_with_allowed_metacharacters_round_trip(client, admin, username):
    """Usernames allow only letters, digits, '.', '_' and '-': those are kept as given and a
    LIKE wildcard in one matches only itself at login."""
    reply = await register(client, username)
    assert reply.status == 201, reply.body
    assert reply.data["username"] == username
    good = await login(client, username)
    assert good.status == 200
    me = await call(client, "GET", f"{API}/auth/me", token=good.data["access_token"])
    assert me.data["username"] == username
    # A wildcard-looking name that is not the account is not the account.
    wildcard = username.replace("_", "%")
    if wildcard != username:
        assert (await login(client, wildcard)).status == 401


@pytest.mark.parametrize("username", ["'; DROP TABLE users; --", "a' OR '1'='1", "%", "é"])
async def test_usernames_with_other_characters_are_refused(client, db_rows, username):
    reply = await register(client, username)
    assert reply.status == 422
    assert reply.fields == ["username"]


@pytest.mark.parametrize("name", ["'; DROP TABLE users; --", "%", "_dmin%", "admin' --"])
async def test_injected_login_names_find_nobody(client, admin, name):
    """With the admin's own password: a name that matched the admin would log in."""
    assert (await login(client, admin.username)).status == 200
    reply = await login(client, name)
    assert reply.status == 401


@pytest.mark.parametrize("name", ["'; DROP TABLE users; --", "%", "_", "clerk%"])
async def test_shift_report_clerk_name_is_literal(admin, clerk, db_rows, name):
    """An admin naming a clerk with wildcards or a quote gets a 404, not someone's report."""
    reply = await admin.get(f"{API}/reports/shift", params={"clerk": name})
    assert reply.status == 404, reply.body
    assert db_rows("SELECT count(*) FROM users") == [(2,)]


# --- CORS ---------------------------------------------------------------------------

ORIGIN = "https://shop.example.com"


async def raw(client: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with client.request(method, path, **kwargs) as resp:
        return resp.status, resp.headers, await resp.json()


async def preflight(
    client: Any, path: str, method: str, origin: str = ORIGIN, request_headers: str = ""
) -> tuple[int, Any, Any]:
    """The OPTIONS request a browser at ``origin`` sends before a cross-origin ``method``."""
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers:
        headers["Access-Control-Request-Headers"] = request_headers
    return await raw(client, "OPTIONS", path, headers=headers)


def cors_headers(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-")}


async def test_cors_is_off_by_default(client, user):
    """No origins configured: no Access-Control-* headers anywhere, preflight is a 405."""
    headers = {"Origin": ORIGIN}
    _, got, _ = await raw(client, "GET", EVENTS, headers=headers)
    assert cors_headers(got) == {}
    _, got, _ = await raw(
        client, "GET", f"{API}/auth/me", headers={**headers, "Authorization": "Bearer x"}
    )
    assert cors_headers(got) == {}
    status, got, body = await preflight(client, EVENTS, "POST")
    assert status == 405 and body["code"] == 405
    assert cors_headers(got) == {}


@pytest.fixture
async def cors_client(aiohttp_client: Any, config: Config, clean_db: None) -> Any:
    other = "http://localhost:5173"
    return await aiohttp_client(create_app(config.replace(cors_origins=(ORIGIN, other))))


async def test_cors_preflight_for_an_allowed_origin(cors_client):
    status, got, body = await preflight(
        cors_client, EVENTS, "POST", request_headers="authorization, content-type"
    )
    assert status == 200 and body["status"] == "success"
    assert got["Access-Control-Allow-Origin"] == ORIGIN
    assert set(got["Access-Control-Allow-Methods"].split(", ")) >= {"GET", "POST"}
    allowed = {h.strip().lower() for h in got["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key"} <= allowed
    assert int(got["Access-Control-Max-Age"]) > 0
    assert "Origin" in got["Vary"]
    assert "Access-Control-Allow-Credentials" not in got  # bearer tokens, no cookies


async def test_cors_preflight_for_a_method_the_route_lacks_allows_nothing(cors_client):
    status, got, _ = await preflight(cors_client, f"{API}/auth/me", "DELETE")
    assert status == 200
    assert cors_headers(got) == {}


async def test_cors_preflight_for_an_unknown_path_is_a_404(cors_client):
    """No preflight answer for a URL that does not exist: the 404 envelope, readable by
    the allowed origin, allows no method."""
    status, got, _ = await preflight(cors_client, f"{API}/nowhere", "GET")
    assert status == 404
    assert got["Access-Control-Allow-Origin"] == ORIGIN
    assert "Access-Control-Allow-Methods" not in got


async def test_cors_answers_carry_the_origin_even_on_errors(cors_client):
    for path, expected in ((EVENTS, 200), (f"{API}/auth/me", 401), (f"{EVENTS}/999", 404)):
        status, got, _ = await raw(cors_client, "GET", path, headers={"Origin": ORIGIN})
        assert status == expected
        assert got["Access-Control-Allow-Origin"] == ORIGIN
        assert "X-Request-ID" in got["Access-Control-Expose-Headers"]
        assert "Origin" in got["Vary"]


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "https://shop.example.com.evil.com",
        "http://shop.example.com",  # another scheme is another origin
        "https://shop.example.com:8443",
        "null",
    ],
)
async def test_cors_ignores_other_origins(cors_client, origin):
    _, got, _ = await raw(cors_client, "GET", EVENTS, headers={"Origin": origin})
    assert cors_headers(got) == {}
    assert "Origin" in got["Vary"]
    status, got, _ = await preflight(cors_client, EVENTS, "POST", origin)
    assert status == 405
    assert cors_headers(got) == {}


async def test_cors_without_an_origin_header_adds_nothing(cors_client):
    _, got, _ = await raw(cors_client, "GET", EVENTS)
    assert cors_headers(got) == {}


async def test_cors_leaves_the_websocket_alone(cors_client):
    ws = await cors_client.ws_connect(WS, headers={"Origin": ORIGIN})
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401  # no token: still refused
    await ws.close()


def test_cors_origins_come_from_the_environment():
    env = {"BOXOFFICE_CORS_ORIGINS": " https://a.example.com, http://localhost:5173 ,"}
    config = Config.from_env(env)
    assert config.cors_origins == ("https://a.example.com", "http://localhost:5173")
    assert Config.from_env({}).cors_origins == ()


@pytest.mark.parametrize(
    "value", ["*", "a.example.com", "https://a.example.com/", "https://A.example.com", "ftp://x"]
)
def test_cors_origins_must_be_exact_origins(value):
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        Config.from_env({"BOXOFFICE_CORS_ORIGINS": value})


# --- found by fuzzing (bench/fuzz.py) -------------------------------------------------


@pytest.mark.parametrize("offset", ["+16:00", "-16:00", "+19:18", "+23:59"])
async def test_offsets_postgresql_cannot_store_are_422(admin, client, offset):
    """Python reads offsets up to 23:59, PostgreSQL only to 15:59:59: past that, a 422
    naming the field, never a 500 (it was one for GET /events/available?date_from=)."""
    when = f"2099-01-31T18:00:00{offset}"
    for path in (EVENTS, f"{EVENTS}/available"):
        for name in ("date_from", "date_to"):
            reply = await call(client, "GET", path, params={name: when})
            assert reply.status == 422 and reply.fields == [name], reply.body
    reply = await admin.get(f"{API}/reports/shift", params={"date_from": when})
    assert reply.status == 422 and reply.fields == ["date_from"], reply.body
    reply = await admin.post(EVENTS, json=event_body(date=when))
    assert reply.status == 422 and reply.fields == ["date"], reply.body


async def test_the_furthest_offsets_postgresql_stores_are_fine(admin, client):
    for offset in ("+15:59", "-15:59", "+14:00"):
        when = f"2099-01-31T18:00:00{offset}"
        assert (await call(client, "GET", EVENTS, params={"date_from": when})).status == 200
        assert (await admin.post(EVENTS, json=event_body(date=when))).status == 201


async def test_ticket_query_token_takes_only_url_safe_characters(client, user, make_event):
    """The schema allows only URL-safe query tokens, so a client following it cannot push
    the request line past aiohttp's 8190 bytes (a plain-text 400 from the HTTP parser, as
    4096 escaped characters did); another token is refused with an envelope."""
    event = await make_event(price="0.00")  # free: a user's booking is a sale with a ticket
    booking = await user.post(BOOKINGS, json={"event_id": event["id"]})
    url = f"{BOOKINGS}/{booking.data['id']}/ticket"
    reply = await call(user.client, "GET", url, params={"token": "é" * 1000})
    assert reply.status in (401, 422), reply.body  # the token is checked as it comes
    async with user.client.get(url, params={"token": user.token}) as resp:
        assert resp.status == 200  # a real token still opens the page
    async with client.get(f"{API}/openapi.json") as resp:
        document = await resp.json()
    operation = document["paths"][f"{API}/bookings/{{booking_id}}/ticket"]["get"]
    (token,) = [p for p in operation["parameters"] if p["name"] == "token"]
    assert '"pattern": "^[A-Za-z0-9._~-]+$"' in json.dumps(token["schema"])
