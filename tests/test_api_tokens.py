"""Integration API tokens: admins issue them, third parties book with them, revoking ends them."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any

import pytest
from support import PASSWORD, call

from server.app import create_app

V1 = "/api/v1"
TOKENS = f"{V1}/tokens"
BOOKINGS = f"{V1}/bookings"


async def issue(admin: Any, name: str = "Acme Tickets", role: str = "user") -> dict[str, Any]:
    reply = await admin.post(TOKENS, json={"name": name, "role": role})
    assert reply.status == 201, reply.body
    return reply.data


def listed(tokens: list[dict[str, Any]], token_id: int) -> dict[str, Any]:
    return next(t for t in tokens if t["id"] == token_id)


async def test_issue_use_list_and_revoke(client, admin, make_event, db_rows):
    """The whole life of a token: issued once, books as its account, listed, revoked, 401."""
    event = await make_event(total_seats=10)
    issued = await issue(admin)
    token = issued["token"]
    assert token.startswith(f"bo_{issued['id']}_")
    assert issued["name"] == "Acme Tickets"
    assert issued["role"] == "user"
    assert issued["last_used_at"] is None and issued["revoked_at"] is None
    assert issued["created_by"] == admin.user_id

    booked = await call(client, "POST", BOOKINGS, token=token, json={"event_id": event["id"]})
    assert booked.status == 201, booked.body
    assert booked.data["user_id"] == issued["user_id"]
    mine = await call(client, "GET", BOOKINGS, token=token)
    assert [b["id"] for b in mine.data] == [booked.data["id"]]

    tokens = (await admin.get(TOKENS)).data
    entry = listed(tokens, issued["id"])
    assert entry["last_used_at"] is not None
    assert all("token" not in t and "token_hash" not in t for t in tokens)

    revoked = await admin.delete(f"{TOKENS}/{issued['id']}")
    assert revoked.status == 200, revoked.body
    assert revoked.data["revoked_at"] is not None
    refused = await call(client, "POST", BOOKINGS, token=token, json={"event_id": event["id"]})
    assert refused.status == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert (await call(client, "GET", BOOKINGS, token=token)).status == 401
    assert listed((await admin.get(TOKENS)).data, issued["id"])["revoked_at"] is not None
    assert db_rows("SELECT count(*) FROM bookings WHERE event_id = %s", event["id"]) == [(1,)]


async def test_secret_is_stored_only_as_a_hash(client, admin, db_rows):
    """Nothing in the database holds the secret; the token's row holds its SHA-256."""
    issued = await issue(admin)
    secret = issued["token"].split("_", 2)[2]
    assert len(secret) >= 43  # 256 random bits
    (stored,) = db_rows("SELECT token_hash FROM api_tokens WHERE id = %s", issued["id"])[0]
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    for table in ("api_tokens", "users", "audit_log", "idempotency_keys"):
        dump = json.dumps(db_rows(f"SELECT * FROM {table}"), default=str)
        assert secret not in dump, table


async def test_token_acts_as_its_own_account(client, admin, db_rows):
    """The token's account has the token's role, shows in /auth/me, and cannot log in."""
    issued = await issue(admin, name="Door scanners", role="clerk")
    me = await call(client, "GET", f"{V1}/auth/me", token=issued["token"])
    assert me.status == 200
    assert me.data["id"] == issued["user_id"]
    assert me.data["role"] == "clerk"
    assert me.data["username"].startswith("token-Door-scanners-")
    for password in (PASSWORD, "", issued["token"]):
        login = {"username": me.data["username"], "password": password or "x"}
        assert (await call(client, "POST", f"{V1}/auth/login", json=login)).status == 401


async def test_token_role_is_enforced(client, admin, make_event):
    """A clerk token does clerk things and nothing an admin alone may do."""
    event = await make_event()
    clerk_token = (await issue(admin, role="clerk"))["token"]
    sales = await call(client, "GET", f"{BOOKINGS}/event/{event['id']}", token=clerk_token)
    assert sales.status == 200
    assert (await call(client, "GET", f"{V1}/users", token=clerk_token)).status == 403
    assert (await call(client, "GET", TOKENS, token=clerk_token)).status == 403
    body = {"name": "escalate", "role": "admin"}
    assert (await call(client, "POST", TOKENS, token=clerk_token, json=body)).status == 403


async def test_an_admin_token_may_issue_tokens(client, admin, db_rows):
    """An admin token is an admin: what it issues is signed by the token's account."""
    root = await issue(admin, name="provisioning", role="admin")
    child = await call(
        client, "POST", TOKENS, token=root["token"], json={"name": "c", "role": "user"}
    )
    assert child.status == 201, child.body
    assert child.data["created_by"] == root["user_id"]
    actor = db_rows(
        "SELECT actor FROM audit_log WHERE action = 'token.create' AND user_id = %s",
        child.data["user_id"],
    )
    assert actor == [("token:provisioning",)]


@pytest.mark.parametrize("role", ["user", "clerk"])
async def test_only_admins_manage_tokens(actors, admin, role, db_rows):
    """Users and clerks get 403 on issuing, listing and revoking, and nothing changes."""
    issued = await issue(admin)
    someone = await actors.new(role)
    assert (await someone.post(TOKENS, json={"name": "mine", "role": "user"})).status == 403
    assert (await someone.get(TOKENS)).status == 403
    assert (await someone.delete(f"{TOKENS}/{issued['id']}")).status == 403
    assert db_rows("SELECT count(*), count(revoked_at) FROM api_tokens") == [(1, 0)]


@pytest.mark.parametrize(
    "token",
    [
        "bo_999999_" + "A" * 43,  # unknown id
        "bo_1_" + "A" * 43,  # a real id, the wrong secret
        "bo_1_short",
        "bo_",
        "bo_0_" + "A" * 43,
    ],
)
async def test_unknown_or_malformed_tokens_are_401(client, admin, token):
    """Only a live token's exact string gets in."""
    await issue(admin)  # token 1 exists
    reply = await call(client, "GET", f"{V1}/auth/me", token=token)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"


async def test_revoking_twice_or_unknown(admin):
    """A second revoke is a 409; an unknown token a 404; a bad id a 422."""
    issued = await issue(admin)
    assert (await admin.delete(f"{TOKENS}/{issued['id']}")).status == 200
    assert (await admin.delete(f"{TOKENS}/{issued['id']}")).status == 409
    assert (await admin.delete(f"{TOKENS}/424242")).status == 404
    bad = await admin.delete(f"{TOKENS}/abc")
    assert bad.status == 422
    assert bad.fields == ["token_id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "role": "user"}, "name"),
        ({"name": "x" * 101, "role": "user"}, "name"),
        ({"name": "ok", "role": "root"}, "role"),
        ({"name": "ok"}, "role"),
        ({"name": "ok", "role": "user", "secret": "mine"}, "secret"),
    ],
)
async def test_issue_validates_its_input(admin, body, field):
    reply = await admin.post(TOKENS, json=body)
    assert reply.status == 422
    assert reply.fields == [field]


async def test_audit_records_issue_revoke_and_use(client, admin, make_event, db_rows):
    """Issuing and revoking are audited with the admin as actor; the token's bookings name it."""
    event = await make_event()
    issued = await issue(admin, name="Partner", role="user")
    booked = await call(
        client, "POST", BOOKINGS, token=issued["token"], json={"event_id": event["id"]}
    )
    assert booked.status == 201
    await admin.delete(f"{TOKENS}/{issued['id']}")
    rows = db_rows(
        "SELECT action, actor_id, actor, user_id, details FROM audit_log "
        "WHERE action LIKE 'token.%%' ORDER BY id"
    )
    details = {"token_id": issued["id"], "name": "Partner", "role": "user"}
    assert rows == [
        ("token.create", admin.user_id, admin.username, issued["user_id"], details),
        ("token.revoke", admin.user_id, admin.username, issued["user_id"], details),
    ]
    by_token = db_rows(
        "SELECT actor_id, actor FROM audit_log WHERE booking_id = %s", booked.data["id"]
    )
    assert by_token == [(issued["user_id"], "token:Partner")]


async def test_last_used_is_written_at_most_once_a_minute(
    aiohttp_client, config, admin, make_event, db_rows
):
    """Even checked on every request (no cache), a busy token's row is written once."""
    uncached = await aiohttp_client(create_app(config.replace(api_token_cache_seconds=0)))
    issued = await issue(admin)
    event = await make_event()
    seen = []
    for _ in range(3):
        reply = await call(uncached, "GET", f"{V1}/events/{event['id']}", token=None)
        assert reply.status == 200
        me = await call(uncached, "GET", f"{V1}/auth/me", token=issued["token"])
        assert me.status == 200
        seen.append(db_rows("SELECT last_used_at FROM api_tokens")[0][0])
    assert seen[0] is not None
    assert seen == [seen[0]] * 3


async def test_revocation_reaches_other_instances(aiohttp_client, config, admin):
    """Another instance stops accepting a revoked token once its cache entry lapses."""
    other = await aiohttp_client(create_app(config.replace(api_token_cache_seconds=0.3)))
    issued = await issue(admin)
    me = f"{V1}/auth/me"
    assert (await call(other, "GET", me, token=issued["token"])).status == 200  # now cached
    assert (await admin.delete(f"{TOKENS}/{issued['id']}")).status == 200
    assert (await call(admin.client, "GET", me, token=issued["token"])).status == 401
    await asyncio.sleep(0.4)
    assert (await call(other, "GET", me, token=issued["token"])).status == 401


async def test_issue_with_an_idempotency_key_never_replays_the_secret(admin, db_rows):
    """A retried issue makes no second token, and the replay omits the secret."""
    headers = {"Idempotency-Key": "provision-acme"}
    body = {"name": "Acme", "role": "user"}
    first = await admin.post(TOKENS, json=body, headers=headers)
    again = await admin.post(TOKENS, json=body, headers=headers)
    assert first.status == again.status == 201
    assert first.data["token"].startswith("bo_")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.data["token"] is None
    assert again.data["id"] == first.data["id"]
    assert db_rows("SELECT count(*) FROM api_tokens") == [(1,)]
    secret = first.data["token"].split("_", 2)[2]
    assert secret not in json.dumps(db_rows("SELECT * FROM idempotency_keys"), default=str)


async def test_idempotency_keys_of_a_token_are_its_own(client, admin, make_event, db_rows):
    """A token's keys are scoped to the token."""
    event = await make_event()
    issued = await issue(admin)
    headers = {"Idempotency-Key": "tk"}
    for _ in range(2):
        reply = await call(
            client,
            "POST",
            BOOKINGS,
            token=issued["token"],
            json={"event_id": event["id"]},
            headers=headers,
        )
        assert reply.status == 201
    assert db_rows("SELECT owner FROM idempotency_keys") == [(f"token:{issued['id']}",)]
    assert db_rows("SELECT count(*) FROM bookings") == [(1,)]
