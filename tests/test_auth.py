"""Accounts and sessions: /api/v1/auth/* and /api/v1/users through the real server."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import bcrypt
import jwt
import pytest
from support import PASSWORD, access_claims, call, login, register

from server.app import create_app

AUTH = "/api/v1/auth"
USERS = "/api/v1/users"
ACCOUNT_FIELDS = {"id", "username", "role", "created_at", "disabled", "disabled_at"}


async def refresh(client: Any, token: str) -> Any:
    return await call(client, "POST", f"{AUTH}/refresh", json={"refresh_token": token})


async def logout(client: Any, token: str) -> Any:
    return await call(client, "POST", f"{AUTH}/logout", json={"refresh_token": token})


async def me(client: Any, token: str) -> Any:
    return await call(client, "GET", f"{AUTH}/me", token=token)


def forge(who: Any, key: str | None, algorithm: str = "HS256", **claims: Any) -> str:
    """An access token for ``who`` shaped like the server's own; a claim set to None is left out."""
    return jwt.encode(access_claims(who, **claims), key, algorithm=algorithm)


# --- register ------------------------------------------------------------------


async def test_register_creates_a_user_account_without_exposing_the_hash(client):
    """Registering answers 201 with the account, role user, and nothing secret."""
    reply = await register(client, "alice")
    assert reply.status == 201
    assert set(reply.data) == ACCOUNT_FIELDS
    assert reply.data["username"] == "alice" and reply.data["disabled"] is False
    assert reply.data["role"] == "user"
    assert (await login(client, "alice")).status == 200


@pytest.mark.parametrize("username", ["abc", "a.b_c-1", "X" * 64, "0123"])
async def test_register_accepts_valid_usernames(client, username):
    """Usernames of 3-64 letters, digits, '.', '_' and '-' are accepted."""
    assert (await register(client, username)).status == 201


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 65, "", "has space", "slash/name", "émile", "semi;colon", "tab\tname", "at@home"],
)
async def test_register_rejects_invalid_usernames(client, username):
    """A username outside the rules is a 422 naming the username field."""
    reply = await register(client, username)
    assert reply.status == 422
    assert reply.fields == ["username"]


async def test_usernames_are_unique_regardless_of_case(client):
    """ "Alice" after "alice" is a 409, and the first account keeps its password."""
    assert (await register(client, "alice")).status == 201
    again = await register(client, "Alice", password="another password")
    assert again.status == 409
    assert (await login(client, "alice", "another password")).status == 401


async def test_racing_registrations_of_one_name_make_one_account(client, db_rows):
    """Parallel registrations of "racer" in different cases: one 201, the rest 409."""
    names = ["racer", "Racer", "RACER", "rAcEr"] * 3
    replies = await asyncio.gather(*(register(client, name) for name in names))
    assert sorted(r.status for r in replies) == [201] + [409] * (len(names) - 1)
    assert db_rows("SELECT count(*) FROM users") == [(1,)]


@pytest.mark.parametrize(
    "password",
    [
        "seven77",  # 7 characters
        "a" * 73,  # 73 bytes
        "é" * 40,  # 40 characters, 80 bytes
        "€" * 25,  # 25 characters, 75 bytes
    ],
)
async def test_register_rejects_bad_passwords(client, db_rows, password):
    """Passwords under 8 characters or over 72 UTF-8 bytes are a 422 naming password."""
    reply = await register(client, "alice", password)
    assert reply.status == 422
    assert reply.fields == ["password"]
    assert db_rows("SELECT count(*) FROM users") == [(0,)]


@pytest.mark.parametrize("password", ["8 chars!", "a" * 72, "é" * 36])
async def test_register_accepts_passwords_up_to_72_bytes(client, password):
    """Passwords of 8 characters up to exactly 72 bytes work for registering and logging in."""
    assert (await register(client, "alice", password)).status == 201
    assert (await login(client, "alice", password)).status == 200
    assert (await login(client, "alice", password[:-1])).status == 401


@pytest.mark.parametrize("extra", [{"role": "admin"}, {"is_admin": True}])
async def test_register_rejects_unknown_fields(client, db_rows, extra):
    """Extra fields (such as a role) are a 422 naming them, and no account is made."""
    reply = await register(client, "alice", **extra)
    assert reply.status == 422
    assert reply.fields == list(extra)
    assert db_rows("SELECT count(*) FROM users") == [(0,)]


@pytest.mark.parametrize("body", [{}, {"username": "alice"}, {"password": PASSWORD}, [], "x"])
async def test_register_rejects_incomplete_bodies(client, body):
    """A body without username and password is a 422, not a 500."""
    assert (await call(client, "POST", f"{AUTH}/register", json=body)).status == 422


# --- login ---------------------------------------------------------------------


async def test_login_returns_a_token_pair(client):
    """A good password gives bearer access and refresh tokens and the role."""
    await register(client, "alice")
    reply = await login(client, "alice")
    assert reply.status == 200
    assert set(reply.data) == {"access_token", "refresh_token", "token_type", "expires_in", "role"}
    assert reply.data["token_type"] == "bearer"
    assert reply.data["role"] == "user"
    assert reply.data["expires_in"] > 0


async def test_access_token_identifies_the_account(client):
    """The access token from a login works on /auth/me and names its own account."""
    created = (await register(client, "alice")).data
    token = (await login(client, "alice")).data["access_token"]
    reply = await me(client, token)
    assert reply.status == 200
    assert reply.data == created


async def test_login_ignores_the_case_of_the_username(client):
    """Since "Alice" and "alice" are one account, either spelling logs in."""
    await register(client, "Alice")
    reply = await login(client, "aLICE")
    assert reply.status == 200
    assert (await me(client, reply.data["access_token"])).data["username"] == "Alice"


async def test_login_with_an_overlong_password_is_422(client):
    """A login password over 72 bytes is a 422 naming password, not a 500."""
    await register(client, "alice")
    reply = await login(client, "alice", "é" * 40)
    assert reply.status == 422
    assert reply.fields == ["password"]


async def test_wrong_password_and_unknown_user_look_the_same(client):
    """Both failures are a 401 with one message, so usernames cannot be probed."""
    await register(client, "alice")
    wrong = await login(client, "alice", "not the password")
    unknown = await login(client, "nobody", "not the password")
    assert wrong.status == unknown.status == 401
    assert wrong.body["message"] == unknown.body["message"]
    assert wrong.data == unknown.data


# --- throttling ----------------------------------------------------------------


async def fail(client: Any, username: str, times: int) -> None:
    for _ in range(times):
        assert (await login(client, username, "wrong password")).status == 401


def assert_locked(reply: Any) -> None:
    assert reply.status == 429, reply.body
    retry = reply.data["retry_after"]
    assert isinstance(retry, int) and retry > 0
    assert reply.headers["Retry-After"] == str(retry)


async def test_repeated_failures_lock_the_username(client, config, actors):
    """After login_max_failures failures even the right password gets a 429 with Retry-After."""
    await actors.new("user", username="alice")
    await fail(client, "alice", config.login_max_failures)
    reply = await login(client, "alice")
    assert_locked(reply)
    assert reply.data["retry_after"] <= config.login_lockout


async def test_lockout_threshold_follows_the_config(aiohttp_client, config, clean_db):
    """A server configured for 2 failures locks after the second one."""
    client = await aiohttp_client(create_app(config.replace(login_max_failures=2)))
    await register(client, "alice")
    await fail(client, "alice", 1)
    assert (await login(client, "alice")).status == 200
    await fail(client, "alice", 2)
    assert_locked(await login(client, "alice"))


async def test_lockout_leaves_other_usernames_alone(client, config, actors):
    """Locking one username does not affect another."""
    await actors.new("user", username="alice")
    await actors.new("user", username="bob")
    await fail(client, "alice", config.login_max_failures)
    assert_locked(await login(client, "alice"))
    assert (await login(client, "bob")).status == 200


async def test_successful_login_resets_the_failure_count(client, config, actors):
    """Failures, a success, then failures again: the count started over, so no lock."""
    await actors.new("user", username="alice")
    below = config.login_max_failures - 1
    await fail(client, "alice", below)
    assert (await login(client, "alice")).status == 200
    await fail(client, "alice", below)
    assert (await login(client, "alice")).status == 200


async def test_usernames_differing_by_case_share_one_counter(client, config, actors):
    """Failures as "Alice" and "ALICE" add up to lock "alice"."""
    await actors.new("user", username="alice")
    half = config.login_max_failures // 2
    await fail(client, "Alice", half)
    await fail(client, "ALICE", config.login_max_failures - half)
    assert_locked(await login(client, "alice"))


async def test_unknown_usernames_are_throttled_too(client, config):
    """Guessing at a name that does not exist is throttled like a real one."""
    await fail(client, "ghost", config.login_max_failures)
    assert_locked(await login(client, "ghost", "wrong password"))


async def test_parallel_correct_logins_are_never_throttled(client, config, actors):
    """Many counters logging in as one account at once all get in."""
    await actors.new("clerk", username="frontdesk")
    attempts = 3 * config.login_max_failures
    replies = await asyncio.gather(*(login(client, "frontdesk", PASSWORD) for _ in range(attempts)))
    assert [r.status for r in replies] == [200] * attempts


async def test_parallel_guesses_are_throttled_too(client, config, actors):
    """A burst of parallel wrong guesses gets no more password checks than the limit."""
    await actors.new("user", username="alice")
    guesses = [f"guess number {i}" for i in range(4 * config.login_max_failures)]
    replies = await asyncio.gather(*(login(client, "alice", g) for g in guesses))
    statuses = [r.status for r in replies]
    assert statuses.count(401) <= config.login_max_failures
    assert statuses.count(429) == len(guesses) - statuses.count(401)


# --- refresh -------------------------------------------------------------------


async def test_refresh_returns_a_new_working_pair(user):
    """A refresh gives a new access and refresh token for the same account."""
    reply = await refresh(user.client, user.refresh_token)
    assert reply.status == 200
    assert reply.data["refresh_token"] != user.refresh_token
    assert reply.data["token_type"] == "bearer"
    assert reply.data["role"] == "user"
    assert (await me(user.client, reply.data["access_token"])).data["id"] == user.user_id
    assert (await refresh(user.client, reply.data["refresh_token"])).status == 200


async def test_refresh_token_works_once(user):
    """After a refresh, the old refresh token is refused."""
    assert (await refresh(user.client, user.refresh_token)).status == 200
    again = await refresh(user.client, user.refresh_token)
    assert again.status == 401
    assert again.headers["WWW-Authenticate"] == "Bearer"


async def test_replaying_a_rotated_token_revokes_the_session(user, client):
    """Reusing a rotated refresh token ends its session: the newest token fails too."""
    other_session = (await login(client, user.username)).data["refresh_token"]
    newest = (await refresh(client, user.refresh_token)).data["refresh_token"]
    assert (await refresh(client, user.refresh_token)).status == 401
    assert (await refresh(client, newest)).status == 401
    assert (await refresh(client, other_session)).status == 200


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "not-a-uuid.secret",
        str(uuid.uuid4()),
        f"{uuid.uuid4()}.",
        f"{uuid.uuid4()}.made-up-secret",
        ".",
        "x" * 256,
        "é" * 100,
    ],
)
async def test_malformed_refresh_tokens_are_401(client, user, token):
    """Garbage refresh tokens are a 401 for refresh and logout, never a 500."""
    assert (await refresh(client, token)).status == 401
    assert (await logout(client, token)).status == 401
    assert (await refresh(client, user.refresh_token)).status == 200


async def test_access_token_is_not_a_refresh_token(user):
    """An access token presented to /auth/refresh is a 401."""
    assert (await refresh(user.client, user.token)).status == 401


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": "x" * 257}])
async def test_refresh_without_a_usable_token_field_is_422(client, body):
    """A missing, empty or oversized refresh_token is a 422 naming it."""
    reply = await call(client, "POST", f"{AUTH}/refresh", json=body)
    assert reply.status == 422
    assert reply.fields == ["refresh_token"]


# --- logout --------------------------------------------------------------------


async def test_logout_ends_the_session(user):
    """After logout the refresh token no longer refreshes."""
    assert (await logout(user.client, user.refresh_token)).status == 200
    assert (await refresh(user.client, user.refresh_token)).status == 401


async def test_logging_out_twice_is_401(user):
    """A second logout with the same token is a 401."""
    assert (await logout(user.client, user.refresh_token)).status == 200
    assert (await logout(user.client, user.refresh_token)).status == 401


async def test_logout_ends_only_its_own_session(client, user):
    """Logging out on one device leaves another login of the same account working."""
    other = (await login(client, user.username)).data["refresh_token"]
    assert (await logout(client, user.refresh_token)).status == 200
    assert (await refresh(client, other)).status == 200


# --- access tokens -------------------------------------------------------------


async def test_forged_token_with_the_real_key_is_accepted(user, config):
    """Control for the tests below: a token shaped like ours, signed with our key, works."""
    reply = await me(user.client, forge(user, config.jwt_secret))
    assert reply.status == 200
    assert reply.data["id"] == user.user_id


async def test_expired_access_token_is_401_expired(user, config):
    """An access token past its exp is a 401 that says it expired."""
    past = int(time.time()) - 60
    token = forge(user, config.jwt_secret, iat=past - 900, exp=past)
    reply = await me(user.client, token)
    assert reply.status == 401
    assert "expired" in reply.body["message"].lower()
    assert reply.headers["WWW-Authenticate"] == "Bearer"


async def test_a_token_accepted_before_is_refused_once_it_expires(user, config):
    """The server remembers tokens it has checked (not to check them on every request),
    but not past their exp."""
    now = time.time()
    token = forge(user, config.jwt_secret, iat=int(now) - 60, exp=int(now) + 2)
    assert (await me(user.client, token)).status == 200
    assert (await me(user.client, token)).status == 200  # remembered
    # Waiting for the time itself: the token expiring is what is tested.
    await asyncio.sleep(int(now) + 2 - time.time() + 0.05)
    reply = await me(user.client, token)
    assert reply.status == 401 and "expired" in reply.body["message"].lower()


@pytest.mark.parametrize(
    ("key", "algorithm"),
    [("another-secret-" + "y" * 40, "HS256"), (None, "none")],
    ids=["other-key", "alg-none"],
)
async def test_tokens_not_signed_by_the_server_are_401(user, key, algorithm):
    """Tokens signed with another key or with alg none are refused, even claiming admin."""
    token = forge(user, key, algorithm, role="admin")
    reply = await call(user.client, "GET", USERS, token=token)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "claims",
    [{"typ": "refresh"}, {"role": "root"}, {"sub": "not-a-number"}, {"exp": None}],
    ids=["typ", "role", "sub", "no-exp"],
)
async def test_tokens_with_wrong_claims_are_401(user, config, claims):
    """Properly signed tokens with a wrong type, role, subject or no expiry are refused."""
    token = forge(user, config.jwt_secret, **claims)
    assert (await me(user.client, token)).status == 401


async def test_refresh_token_is_not_an_access_token(user):
    """A refresh token in the Authorization header is a 401."""
    reply = await call(user.client, "GET", f"{AUTH}/me", token=user.refresh_token)
    assert reply.status == 401


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer    ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer not.a.jwt",
        "Bearer a b c",
    ],
)
async def test_missing_or_malformed_authorization_is_401(client, authorization):
    """Without a usable bearer token the answer is 401 with WWW-Authenticate: Bearer."""
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = await call(client, "GET", f"{AUTH}/me", headers=headers)
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"


async def test_token_without_the_bearer_scheme_is_401(user):
    """A valid access token sent bare, without "Bearer ", is still a 401."""
    reply = await call(user.client, "GET", f"{AUTH}/me", headers={"Authorization": user.token})
    assert reply.status == 401
    assert reply.headers["WWW-Authenticate"] == "Bearer"


# --- /users --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clerk", "admin", "user"])
async def test_admin_creates_accounts_with_any_role(admin, role):
    """An admin creates an account with the given role, which can then log in as it."""
    reply = await admin.post(USERS, json={"username": "staff1", "password": PASSWORD, "role": role})
    assert reply.status == 201
    assert set(reply.data) == ACCOUNT_FIELDS
    assert reply.data["role"] == role
    assert (await login(admin.client, "staff1")).data["role"] == role


@pytest.mark.parametrize("username", ["taken", "TAKEN"])
async def test_admin_creating_a_taken_username_is_409(admin, username):
    """Creating an account whose name exists (in any case) is a 409."""
    await register(admin.client, "taken")
    body = {"username": username, "password": PASSWORD, "role": "clerk"}
    assert (await admin.post(USERS, json=body)).status == 409


async def test_admin_creating_an_unknown_role_is_422(admin):
    """A role outside user, clerk and admin is a 422 naming role."""
    body = {"username": "boss", "password": PASSWORD, "role": "superuser"}
    reply = await admin.post(USERS, json=body)
    assert reply.status == 422
    assert reply.fields == ["role"]


@pytest.mark.parametrize(("role", "status"), [("clerk", 403), ("user", 403), (None, 401)])
async def test_only_admins_create_accounts(actors, client, db_rows, role, status):
    """Clerks and users get 403, anonymous 401, and no account appears."""
    token = (await actors.new(role)).token if role else None
    body = {"username": "sneaky", "password": PASSWORD, "role": "admin"}
    reply = await call(client, "POST", USERS, token=token, json=body)
    assert reply.status == status
    assert db_rows("SELECT count(*) FROM users WHERE username = 'sneaky'") == [(0,)]


async def test_admin_lists_accounts(admin, clerk, user):
    """GET /users lists every account with its role and no password hashes."""
    reply = await admin.get(USERS)
    assert reply.status == 200
    listed = {u["username"]: u["role"] for u in reply.data}
    assert listed == {admin.username: "admin", clerk.username: "clerk", user.username: "user"}
    assert all(set(u) == ACCOUNT_FIELDS and u["disabled"] is False for u in reply.data)


@pytest.mark.parametrize(("role", "status"), [("clerk", 403), ("user", 403), (None, 401)])
async def test_only_admins_list_accounts(actors, client, role, status):
    """Clerks and users get 403 on GET /users, anonymous 401."""
    token = (await actors.new(role)).token if role else None
    assert (await call(client, "GET", USERS, token=token)).status == status


# --- password storage ----------------------------------------------------------


async def test_passwords_are_stored_as_bcrypt_hashes(client, admin, db_rows):
    """Stored passwords are salted bcrypt hashes, never the password itself."""
    await register(client, "alice")
    await admin.post(USERS, json={"username": "clerky", "password": PASSWORD, "role": "clerk"})
    rows = db_rows("SELECT username, password_hash FROM users WHERE username <> %s", admin.username)
    assert len(rows) == 2
    hashes = [h for _, h in rows]
    for stored in hashes:
        assert stored.startswith("$2b$")
        assert PASSWORD not in stored
        assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    assert hashes[0] != hashes[1]
    assert db_rows("SELECT count(*) FROM users WHERE password_hash LIKE %s", f"%{PASSWORD}%") == [
        (0,)
    ]
