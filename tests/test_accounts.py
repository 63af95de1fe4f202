"""Accounts an admin controls: disabling, roles, ending sessions, through the real server;
their effect on access tokens already handed out, on this instance and on another; the
absolute lifetime of sessions and the purge of ended ones."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import jwt
import pytest
from support import PASSWORD, Actor, access_claims, call, cut_listeners, login
from test_api_tokens import issue
from test_live import WS, receive

from server.app import SESSION_GRACE_SECONDS, create_app
from server.keys import ACCOUNTS, LISTENER

V1 = "/api/v1"
USERS = f"{V1}/users"
AUTH = f"{V1}/auth"
BOOKINGS = f"{V1}/bookings"
# How long a change may take to reach another instance (a NOTIFY: milliseconds), generously.
NOTIFY_DELAY = 5.0


async def patch(admin: Actor, user_id: int, **body: Any) -> Any:
    return await admin.call("PATCH", f"{USERS}/{user_id}", json=body)


async def end_sessions(admin: Actor, user_id: int) -> Any:
    return await admin.delete(f"{USERS}/{user_id}/sessions")


async def refresh(client: Any, token: str) -> Any:
    return await call(client, "POST", f"{AUTH}/refresh", json={"refresh_token": token})


async def me(client: Any, token: str) -> Any:
    return await call(client, "GET", f"{AUTH}/me", token=token)


async def audit(admin: Actor, user_id: int, action: str) -> list[dict[str, Any]]:
    reply = await admin.get(f"{V1}/audit", params={"user_id": user_id, "action": action})
    assert reply.status == 200, reply.body
    return reply.data


async def changes(admin: Actor, user_id: int) -> list[str]:
    """The actions recorded about an account since it was created."""
    records = await audit(admin, user_id, "user")
    return [r["action"] for r in records if r["action"] != "user.create"]


# --- disabling -------------------------------------------------------------------


async def test_disabling_stops_the_account_at_once(client, admin, clerk, db_rows):
    """A disabled clerk's access token is a 401 at once, its refresh token too, and its
    correct password a 403; the list shows it disabled; one audit record says so."""
    second = (await login(client, clerk.username)).data
    assert (await me(client, clerk.token)).status == 200

    reply = await patch(admin, clerk.user_id, disabled=True)
    assert reply.status == 200, reply.body
    assert reply.data["disabled"] is True and reply.data["disabled_at"] is not None

    denied = await me(client, clerk.token)
    assert denied.status == 401 and denied.body["message"] == "This account is disabled"
    assert denied.headers["WWW-Authenticate"] == "Bearer"
    for token in (clerk.refresh_token, second["refresh_token"]):
        assert (await refresh(client, token)).status == 401
    relogin = await login(client, clerk.username)
    assert relogin.status == 403 and "disabled" in relogin.body["message"]
    assert (await login(client, clerk.username, "wrong password")).status == 401

    listed = {u["id"]: u["disabled"] for u in (await admin.get(USERS)).data}
    assert listed == {admin.user_id: False, clerk.user_id: True}
    [record] = await audit(admin, clerk.user_id, "user.disable")
    assert record["actor_id"] == admin.user_id and record["details"] == {"sessions_ended": 2}
    live = "SELECT count(*) FROM sessions WHERE user_id = %s AND revoked_at IS NULL"
    assert db_rows(live, clerk.user_id) == [(0,)]


async def test_enabling_lets_the_account_log_in_but_not_its_old_tokens(client, admin, user):
    """Re-enabled, the account logs in again; tokens from before it was disabled stay dead."""
    assert (await patch(admin, user.user_id, disabled=True)).status == 200
    reply = await patch(admin, user.user_id, disabled=False)
    assert reply.status == 200 and reply.data["disabled"] is False
    assert reply.data["disabled_at"] is None

    assert (await me(client, user.token)).status == 401
    assert (await refresh(client, user.refresh_token)).status == 401
    fresh = await login(client, user.username)
    assert fresh.status == 200
    assert (await me(client, fresh.data["access_token"])).status == 200
    assert len(await audit(admin, user.user_id, "user.enable")) == 1


async def test_repeating_a_change_changes_and_records_nothing(client, admin, user):
    """Disabling a disabled account answers it as it is, with no second record."""
    first = await patch(admin, user.user_id, disabled=True)
    again = await patch(admin, user.user_id, disabled=True)
    assert again.status == 200 and again.data == first.data
    assert len(await audit(admin, user.user_id, "user.disable")) == 1
    same_role = await patch(admin, user.user_id, role="user")
    assert same_role.status == 200
    assert await audit(admin, user.user_id, "user.role") == []


async def test_a_retried_disable_with_its_idempotency_key_is_answered_once(admin, user):
    """Account changes run inside the Idempotency-Key transaction like any other change."""
    key = {"Idempotency-Key": "disable-user-1"}
    body = {"disabled": True}
    first = await admin.call("PATCH", f"{USERS}/{user.user_id}", json=body, headers=key)
    again = await admin.call("PATCH", f"{USERS}/{user.user_id}", json=body, headers=key)
    assert first.status == again.status == 200 and again.data == first.data
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await changes(admin, user.user_id) == ["user.disable"]
    assert (await me(user.client, user.token)).status == 401


# --- roles -----------------------------------------------------------------------


async def test_a_demoted_clerks_token_stops_selling(client, admin, clerk, make_event):
    """Demoted, a clerk's token is refused (401, so clients refresh); the refreshed token is
    a user's, which cannot do a clerk's work."""
    event = await make_event(total_seats=10)
    staff_list = f"{BOOKINGS}/event/{event['id']}"
    assert (await clerk.get(staff_list)).status == 200

    reply = await patch(admin, clerk.user_id, role="user")
    assert reply.status == 200 and reply.data["role"] == "user"

    old = await clerk.get(staff_list)
    assert old.status == 401 and "role changed" in old.body["message"]
    sale = await clerk.post(BOOKINGS, json={"event_id": event["id"], "customer_name": "Ann"})
    assert sale.status == 401
    renewed = await refresh(client, clerk.refresh_token)
    assert renewed.status == 200 and renewed.data["role"] == "user"
    demoted = renewed.data["access_token"]
    assert (await call(client, "GET", staff_list, token=demoted)).status == 403
    [record] = await audit(admin, clerk.user_id, "user.role")
    assert record["details"] == {"from": "clerk", "to": "user"}


async def test_a_promoted_user_gets_a_clerks_token_by_refreshing(client, admin, user, make_event):
    event = await make_event()
    assert (await patch(admin, user.user_id, role="clerk")).status == 200
    assert (await user.get(f"{BOOKINGS}/event/{event['id']}")).status == 401
    renewed = await refresh(client, user.refresh_token)
    assert renewed.data["role"] == "clerk"
    token = renewed.data["access_token"]
    assert (await call(client, "GET", f"{BOOKINGS}/event/{event['id']}", token=token)).status == 200


async def test_disabling_and_changing_the_role_at_once_records_both(admin, clerk):
    reply = await patch(admin, clerk.user_id, disabled=True, role="admin")
    assert reply.status == 200
    assert (reply.data["role"], reply.data["disabled"]) == ("admin", True)
    assert len(await audit(admin, clerk.user_id, "user.disable")) == 1
    assert len(await audit(admin, clerk.user_id, "user.role")) == 1


# --- ending sessions -----------------------------------------------------------------


async def test_ending_sessions_logs_the_account_out_everywhere(client, admin, user):
    """Every refresh token and every access token issued so far stop; a new login works."""
    other = (await login(client, user.username)).data
    reply = await end_sessions(admin, user.user_id)
    assert reply.status == 200, reply.body
    assert reply.data == {"user_id": user.user_id, "sessions_ended": 2}

    for token in (user.token, other["access_token"]):
        denied = await me(client, token)
        assert denied.status == 401 and "sessions were ended" in denied.body["message"]
    for token in (user.refresh_token, other["refresh_token"]):
        assert (await refresh(client, token)).status == 401

    fresh = await login(client, user.username)
    assert fresh.status == 200
    assert (await me(client, fresh.data["access_token"])).status == 200
    assert (await refresh(client, fresh.data["refresh_token"])).status == 200
    [record] = await audit(admin, user.user_id, "user.sessions_end")
    assert record["actor_id"] == admin.user_id and record["details"] == {"sessions_ended": 2}


async def test_an_admin_may_end_their_own_sessions(client, admin):
    reply = await end_sessions(admin, admin.user_id)
    assert reply.status == 200 and reply.data["sessions_ended"] == 1
    assert (await me(client, admin.token)).status == 401


# --- refusals --------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [lambda a, uid: patch(a, uid, disabled=True), lambda a, uid: end_sessions(a, uid)],
    ids=["patch", "end-sessions"],
)
async def test_unknown_accounts_are_404(admin, change):
    reply = await change(admin, 987654)
    assert reply.status == 404 and "987654" in reply.body["message"]


@pytest.mark.parametrize("path", [f"{USERS}/abc", f"{USERS}/0", f"{USERS}/abc/sessions"])
async def test_malformed_ids_are_422_naming_user_id(admin, path):
    method = "DELETE" if path.endswith("/sessions") else "PATCH"
    reply = await admin.call(method, path, json={"disabled": True})
    assert reply.status == 422 and reply.fields == ["user_id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"disabled": None}, "disabled"),
        ({"disabled": "yes"}, "disabled"),
        ({"disabled": 1}, "disabled"),
        ({"role": "root"}, "role"),
        ({"role": None}, "role"),
        ({"disabled": True, "password": "x"}, "password"),
    ],
)
async def test_bad_changes_are_422_naming_the_field(admin, user, body, field):
    reply = await admin.call("PATCH", f"{USERS}/{user.user_id}", json=body)
    assert reply.status == 422 and reply.fields == [field]
    assert (await me(user.client, user.token)).status == 200
    assert await changes(admin, user.user_id) == []


@pytest.mark.parametrize("body", [{"disabled": True}, {"role": "clerk"}, {"role": "user"}])
async def test_an_admin_cannot_disable_or_demote_themselves(client, admin, actors, body):
    await actors.new("admin")  # another admin: this is not about the last one
    reply = await patch(admin, admin.user_id, **body)
    assert reply.status == 409 and "your own account" in reply.body["message"]
    assert (await me(client, admin.token)).status == 200
    assert await changes(admin, admin.user_id) == []


async def test_an_admin_may_send_their_own_state_unchanged(admin):
    reply = await patch(admin, admin.user_id, disabled=False, role="admin")
    assert reply.status == 200 and reply.data["role"] == "admin"


async def test_the_last_enabled_admin_cannot_be_disabled(client, admin, actors):
    """An admin API token cannot disable or demote the only admin who can log in; once
    there is another, it can."""
    token = (await issue(admin, name="ops robot", role="admin"))["token"]
    for body in ({"disabled": True}, {"role": "clerk"}):
        reply = await call(client, "PATCH", f"{USERS}/{admin.user_id}", token=token, json=body)
        assert reply.status == 409 and "last enabled admin" in reply.body["message"]
    await actors.new("admin")
    reply = await call(
        client, "PATCH", f"{USERS}/{admin.user_id}", token=token, json={"disabled": True}
    )
    assert reply.status == 200


async def test_two_admins_disabling_each_other_at_once_leave_one(admin, actors, db_rows):
    """The changes queue on one lock: one wins, the other is refused (409, or 401 if it
    arrives after its own account was disabled). An enabled admin always remains."""
    other = await actors.new("admin")
    replies = await asyncio.gather(
        patch(admin, other.user_id, disabled=True), patch(other, admin.user_id, disabled=True)
    )
    statuses = sorted(r.status for r in replies)
    assert statuses in ([200, 401], [200, 409]), [r.body for r in replies]
    enabled = "SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL"
    assert db_rows(enabled) == [(1,)]


async def test_api_tokens_are_accounts_of_their_own(client, actors, admin):
    """Disabling the admin who issued a token leaves the token working; the token's own
    account is not changed here (revoke the token)."""
    issuer = await actors.new("admin")
    issued = await issue(issuer, name="partner", role="user")
    assert (await patch(admin, issuer.user_id, disabled=True)).status == 200
    assert (await me(client, issued["token"])).status == 200
    reply = await patch(admin, issued["user_id"], disabled=True)
    assert reply.status == 409 and "API token" in reply.body["message"]
    assert (await me(client, issued["token"])).status == 200


@pytest.mark.parametrize("epoch", ["1", True, -1, 1.5])
async def test_a_malformed_epoch_claim_is_401(user, config, epoch):
    token = jwt.encode(access_claims(user, epoch=epoch), config.jwt_secret, algorithm="HS256")
    assert (await me(user.client, token)).status == 401


# --- on every instance -------------------------------------------------------------------


async def test_disabling_on_one_instance_stops_the_token_on_another(
    aiohttp_client, client, config, admin, clerk
):
    """Another instance hears of it: it closes the clerk's websocket with 4401 at once
    (within the NOTIFY delay) and refuses the token from then on."""
    other = await aiohttp_client(create_app(config))
    assert (await me(other, clerk.token)).status == 200
    ws = await other.ws_connect(WS, headers={"Authorization": f"Bearer {clerk.token}"})
    assert (await receive(ws))["type"] == "hello"

    started = time.monotonic()
    assert (await patch(admin, clerk.user_id, disabled=True)).status == 200
    msg = await ws.receive(timeout=NOTIFY_DELAY)
    assert msg.type == aiohttp.WSMsgType.CLOSE, msg
    assert (msg.data, msg.extra) == (4401, "This account is disabled")
    assert time.monotonic() - started < NOTIFY_DELAY
    assert (await me(other, clerk.token)).status == 401


async def test_a_disable_made_while_the_listen_connection_was_lost_is_enforced(
    aiohttp_client, client, config, database_url, admin, clerk
):
    """An instance that lost its LISTEN connection cannot hear of a change made meanwhile
    on another one: until it is back it reads accounts from the database, so the clerk's
    token is refused at once; back, it reloads what it knows of accounts before trusting
    it again, so the clerk's websocket there is closed with 4401."""
    other = await aiohttp_client(create_app(config))
    ws = await client.ws_connect(WS, headers={"Authorization": f"Bearer {clerk.token}"})
    assert (await receive(ws))["type"] == "hello"
    listener = client.server.app[LISTENER]
    reconnects, dsn = listener.reconnects, listener.dsn
    listener.dsn = "postgresql://postgres@127.0.0.1:1/nowhere"  # it stays away meanwhile

    cut_listeners(database_url)
    async with asyncio.timeout(10):  # until the instance has noticed (readiness says so)
        while (await call(client, "GET", "/readyz")).status != 503:
            pass
    body = {"disabled": True}
    disabled = await call(other, "PATCH", f"{USERS}/{clerk.user_id}", token=admin.token, json=body)
    assert disabled.status == 200
    assert (await me(client, clerk.token)).status == 401
    listener.dsn = dsn

    msg = await ws.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.CLOSE, msg
    assert (msg.data, msg.extra) == (4401, "This account is disabled")
    assert listener.reconnects == reconnects + 1
    assert (await me(client, clerk.token)).status == 401


async def test_ending_sessions_closes_the_websocket_on_the_same_instance(client, admin, user):
    ws = await client.ws_connect(WS, headers={"Authorization": f"Bearer {user.token}"})
    assert (await receive(ws))["type"] == "hello"
    assert (await end_sessions(admin, user.user_id)).status == 200
    msg = await ws.receive(timeout=NOTIFY_DELAY)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4401, msg
    assert "sessions were ended" in msg.extra


async def test_renewing_a_websocket_with_a_revoked_token_is_refused(client, admin, user):
    """In-band re-authentication checks the account too: an access token from before the
    account's sessions were ended gets an error reply, and the connection stays open."""
    old = user.token
    assert (await end_sessions(admin, user.user_id)).status == 200
    fresh = (await login(client, user.username)).data["access_token"]
    ws = await client.ws_connect(WS, headers={"Authorization": f"Bearer {fresh}"})
    assert (await receive(ws))["type"] == "hello"
    await ws.send_json({"type": "auth", "token": old})
    reply = await receive(ws, lambda m: m["type"] == "error")
    assert "sessions were ended" in reply["message"]
    await ws.send_json({"type": "ping"})
    assert (await receive(ws, lambda m: m["type"] == "pong"))["type"] == "pong"
    await ws.close()


# --- session lifetime and purge --------------------------------------------------------


async def test_a_session_ends_at_its_absolute_lifetime_however_often_refreshed(
    client, user, config, db_execute
):
    """A session begun more than session_max_age ago is refused even if refreshed yesterday
    and not yet past its sliding expiry."""
    db_execute(
        "UPDATE sessions SET created_at = now() - make_interval(secs => %s + 60),"
        " last_used_at = now() - interval '1 day', expires_at = now() + interval '13 days'"
        " WHERE user_id = %s",
        config.session_max_age,
        user.user_id,
    )
    reply = await refresh(client, user.refresh_token)
    assert reply.status == 401


async def test_a_refresh_never_extends_a_session_past_its_absolute_lifetime(
    client, user, config, db_execute, db_rows
):
    """A session near its end can still be refreshed, but only up to that end."""
    db_execute(
        "UPDATE sessions SET created_at = now() - make_interval(secs => %s - 3600)"
        " WHERE user_id = %s",
        config.session_max_age,
        user.user_id,
    )
    reply = await refresh(client, user.refresh_token)
    assert reply.status == 200
    [(left,)] = db_rows(
        "SELECT extract(epoch FROM expires_at - now()) FROM sessions WHERE user_id = %s",
        user.user_id,
    )
    assert 3500 < left <= 3600


async def test_sessions_ended_long_ago_are_purged(client, user, db_execute, db_rows):
    """Sessions expired or revoked more than the grace period ago go; recent and live stay."""
    old = f"now() - make_interval(secs => {SESSION_GRACE_SECONDS} + 60)"
    db_execute(
        "INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at, revoked_at)"
        " SELECT gen_random_uuid(), %s, 'x', now() - interval '60 days', e, r FROM (VALUES"
        f" ({old}, NULL), (now() + interval '1 day', {old}),"
        " (now() - interval '1 hour', NULL), (now() + interval '1 day', now())) AS v (e, r)",
        user.user_id,
    )
    assert db_rows("SELECT count(*) FROM sessions") == [(5,)]
    purged = await client.server.app[ACCOUNTS].purge_sessions(SESSION_GRACE_SECONDS)
    assert purged == 2
    assert db_rows("SELECT count(*) FROM sessions") == [(3,)]
    assert (await refresh(client, user.refresh_token)).status == 200


# --- the typed client --------------------------------------------------------------------


async def test_the_client_disables_enables_and_logs_out(client, admin, user):
    from common.client import ApiError, Client

    async with Client(str(client.make_url(""))) as api:
        await api.login(admin.username, PASSWORD)
        changed = await api.update_user(user.user_id, disabled=True)
        assert changed.disabled and changed.disabled_at is not None
        assert [u.disabled for u in await api.users() if u.id == user.user_id] == [True]
        assert (await api.update_user(user.user_id, disabled=False, role="clerk")).role == "clerk"
        assert await api.end_sessions(user.user_id) == 0  # disabling ended them
        with pytest.raises(ApiError) as refused:
            await api.update_user(admin.user_id, disabled=True)
        assert refused.value.status == 409
