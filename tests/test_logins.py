"""Throttling logins and registrations by client address, admins unlocking accounts, the
bounded bcrypt queue, and usernames in one normal form (issue 9)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from support import PASSWORD, call, login, register
from test_cli import boxoffice_async
from test_schema import run

from server import db
from server.app import create_app
from server.auth import username_key
from server.clients import behind_proxies, networks
from server.config import Config, ConfigError
from server.keys import AUTH

V1 = "/api/v1"
# Through a proxy on loopback that the server trusts, a request says where it comes from.
OWNER, STRANGER, OTHER = "198.51.100.7", "203.0.113.9", "192.0.2.44"


async def proxied(aiohttp_client: Any, config: Config, **changes: Any) -> Any:
    """A server behind a trusted proxy on loopback, so X-Forwarded-For sets the address."""
    app = create_app(config.replace(trusted_proxies=("127.0.0.1",), **changes))
    return await aiohttp_client(app)


async def login_from(client: Any, address: str, username: str, password: str = PASSWORD) -> Any:
    body = {"username": username, "password": password}
    headers = {"X-Forwarded-For": address}
    return await call(client, "POST", f"{V1}/auth/login", json=body, headers=headers)


async def fail_from(client: Any, address: str, username: str, times: int) -> None:
    for _ in range(times):
        reply = await login_from(client, address, username, "wrong password")
        assert reply.status == 401, reply.body


def assert_throttled(reply: Any) -> None:
    assert reply.status == 429, reply.body
    retry = reply.data["retry_after"]
    assert isinstance(retry, int) and retry > 0
    assert reply.headers["Retry-After"] == str(retry)


async def account(client: Any, username: str, role: str = "clerk") -> int:
    row = await client.server.app[AUTH].create_user(username, PASSWORD, role)
    return row["id"]


# --- a stranger cannot lock an account's owner out -------------------------------------


async def test_a_strangers_failures_lock_only_the_stranger(aiohttp_client, config, clean_db):
    """Five wrong passwords for a clerk from a stranger's address lock the stranger out,
    even with the right password, while the clerk logs in from their own address."""
    client = await proxied(aiohttp_client, config)
    await account(client, "frontdesk")
    await fail_from(client, STRANGER, "frontdesk", config.login_max_failures)
    assert_throttled(await login_from(client, STRANGER, "frontdesk"))
    assert (await login_from(client, OWNER, "frontdesk")).status == 200


async def test_many_failures_from_one_address_lock_that_address(aiohttp_client, config, clean_db):
    """Guessing across usernames from one address: past the per-address limit every
    login from it is refused, a right password too; other addresses are unaffected."""
    client = await proxied(aiohttp_client, config, login_max_failures_per_address=4)
    await account(client, "frontdesk")
    for name in ("ann", "bob", "cyd", "dan"):
        await fail_from(client, STRANGER, name, 1)
    assert_throttled(await login_from(client, STRANGER, "frontdesk"))
    assert (await login_from(client, OWNER, "frontdesk")).status == 200


async def test_guessing_spread_over_addresses_locks_the_username(aiohttp_client, config, clean_db):
    """Failures for one name from many addresses add up to the per-username limit, which
    then holds the name from every address, until an admin unlocks it."""
    client = await proxied(
        aiohttp_client, config, login_max_failures=2, login_max_failures_per_username=4
    )
    await account(client, "frontdesk")
    for i in range(4):
        await fail_from(client, f"203.0.113.{i + 1}", "frontdesk", 1)
    assert_throttled(await login_from(client, OWNER, "frontdesk"))


async def test_a_success_clears_only_its_own_addresss_count(aiohttp_client, config, clean_db):
    """The owner logging in from home does not wipe a stranger's count: the stranger's
    next failure still locks them."""
    client = await proxied(aiohttp_client, config)
    await account(client, "frontdesk")
    await fail_from(client, STRANGER, "frontdesk", config.login_max_failures - 1)
    assert (await login_from(client, OWNER, "frontdesk")).status == 200
    await fail_from(client, STRANGER, "frontdesk", 1)
    assert_throttled(await login_from(client, STRANGER, "frontdesk"))


async def test_forwarded_for_is_ignored_without_trusted_proxies(client, config):
    """By default X-Forwarded-For is the client's own claim: a new address in it each
    time does not get a guesser past the lock. (A guard: true before the per-address
    counts too, and what must stay true with them.)"""
    await account(client, "frontdesk")
    for i in range(config.login_max_failures):
        reply = await login_from(client, f"203.0.113.{i + 1}", "frontdesk", "wrong password")
        assert reply.status == 401
    assert_throttled(await login_from(client, "203.0.113.200", "frontdesk"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("127.0.0.1", [], "127.0.0.1"),  # no header: the proxy itself
        ("127.0.0.1", ["203.0.113.9"], "203.0.113.9"),
        # What a client wrote before the proxy appended the real address is not read.
        ("127.0.0.1", ["198.51.100.7, 203.0.113.9"], "203.0.113.9"),
        # Through two trusted proxies: the first untrusted hop from the right.
        ("127.0.0.1", ["203.0.113.9, 10.0.0.5"], "203.0.113.9"),
        ("127.0.0.1", ["203.0.113.9", "10.0.0.5"], "203.0.113.9"),
        # A peer that is not a trusted proxy is the client, whatever it claims.
        ("192.0.2.1", ["203.0.113.9"], "192.0.2.1"),
        # An unreadable hop: the last address that could be read.
        ("127.0.0.1", ["not-an-address"], "127.0.0.1"),
    ],
)
def test_the_client_address_behind_trusted_proxies(peer, forwarded, client):
    assert behind_proxies(peer, forwarded, networks(["127.0.0.1", "10.0.0.0/8"])) == client


def test_throttle_settings_come_from_the_environment():
    env = {
        "BOXOFFICE_LOGIN_MAX_FAILURES_PER_ADDRESS": "50",
        "BOXOFFICE_LOGIN_MAX_FAILURES_PER_USERNAME": "200",
        "BOXOFFICE_REGISTER_MAX_PER_ADDRESS": "3",
        "BOXOFFICE_TRUSTED_PROXIES": "10.0.0.0/8, 172.16.0.1",
        "BOXOFFICE_BCRYPT_QUEUE": "16",
    }
    config = Config.from_env(env)
    assert config.login_max_failures_per_address == 50
    assert config.login_max_failures_per_username == 200
    assert config.register_max_per_address == 3
    assert config.trusted_proxies == ("10.0.0.0/8", "172.16.0.1")
    assert config.bcrypt_queue == 16


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"BOXOFFICE_TRUSTED_PROXIES": "nginx"}, "BOXOFFICE_TRUSTED_PROXIES"),
        ({"BOXOFFICE_LOGIN_MAX_FAILURES_PER_ADDRESS": "0"}, "PER_ADDRESS"),
        ({"BOXOFFICE_REGISTER_MAX_PER_ADDRESS": "0"}, "BOXOFFICE_REGISTER_MAX_PER_ADDRESS"),
        ({"BOXOFFICE_LOGIN_MAX_FAILURES_PER_USERNAME": "3"}, "PER_USERNAME"),
        ({"BOXOFFICE_BCRYPT_QUEUE": "-1"}, "BOXOFFICE_BCRYPT_QUEUE"),
    ],
)
def test_throttle_settings_are_checked(env, names):
    with pytest.raises(ConfigError, match=names):
        Config.from_env(env)


# --- admins unlock ------------------------------------------------------------------


async def test_an_admin_unlocks_an_account(aiohttp_client, config, clean_db, db_rows):
    """Locked from two addresses and as a name; the admin's DELETE .../lockout lets the
    owner in again at once, and the audit log says who did it."""
    client = await proxied(
        aiohttp_client, config, login_max_failures=2, login_max_failures_per_username=4
    )
    clerk_id = await account(client, "frontdesk")
    await account(client, "boss", "admin")
    boss = (await login_from(client, OTHER, "boss")).data["access_token"]
    await fail_from(client, STRANGER, "frontdesk", 2)
    await fail_from(client, OWNER, "frontdesk", 2)
    assert_throttled(await login_from(client, OWNER, "frontdesk"))

    reply = await call(client, "DELETE", f"{V1}/users/{clerk_id}/lockout", token=boss)
    assert reply.status == 200, reply.body
    assert reply.data == {"id": clerk_id, "username": "frontdesk", "cleared": 3}
    assert (await login_from(client, OWNER, "frontdesk")).status == 200
    [(actor, action, details)] = db_rows(
        "SELECT actor, details->>'username', details->>'cleared' FROM audit_log "
        "WHERE action = 'user.unlock' AND user_id = %s",
        clerk_id,
    )
    assert (actor, action, details) == ("boss", "frontdesk", "3")


async def test_unlocking_an_unknown_account_is_404(admin):
    reply = await admin.delete(f"{V1}/users/999999/lockout")
    assert reply.status == 404
    assert reply.body["message"] == "User 999999 not found"


async def test_unlocking_needs_an_admin(clerk, user):
    """The owner cannot unlock themselves, nor can a clerk."""
    for who in (clerk, user):
        assert (await who.delete(f"{V1}/users/{user.user_id}/lockout")).status == 403


# --- registration -------------------------------------------------------------------


async def test_registrations_from_one_address_are_limited(aiohttp_client, config, clean_db):
    """Registrations and taken-name refusals count: past the limit an address gets a 429
    with Retry-After (no more probing of names), while another address still registers."""
    client = await proxied(aiohttp_client, config, register_max_per_address=3)

    async def register_from(address: str, name: str) -> Any:
        body = {"username": name, "password": PASSWORD}
        headers = {"X-Forwarded-For": address}
        return await call(client, "POST", f"{V1}/auth/register", json=body, headers=headers)

    assert (await register_from(STRANGER, "ann")).status == 201
    assert (await register_from(STRANGER, "bob")).status == 201
    assert (await register_from(STRANGER, "ann")).status == 409
    refused = await register_from(STRANGER, "cyd")
    assert_throttled(refused)
    assert refused.data["retry_after"] <= 3600
    assert (await register_from(STRANGER, "ann")).status == 429  # no longer tells
    assert (await register_from(OWNER, "cyd")).status == 201


# --- the bcrypt queue ---------------------------------------------------------------


async def test_a_flood_of_registrations_gets_quick_503s(aiohttp_client, config, clean_db, db_rows):
    """With no room to queue, registrations beyond the ones hashing get a 503 with
    Retry-After (and make no account) rather than waiting in line; afterwards all is well."""
    client = await aiohttp_client(create_app(config.replace(bcrypt_rounds=12, bcrypt_queue=0)))
    names = [f"flood{i}" for i in range(16)]
    replies = await asyncio.gather(*(register(client, name) for name in names))
    statuses = [r.status for r in replies]
    assert set(statuses) <= {201, 503}
    assert statuses.count(503) >= len(names) // 2, statuses
    for reply in replies:
        if reply.status == 503:
            assert reply.headers["Retry-After"] == str(reply.data["retry_after"])
    assert db_rows("SELECT count(*) FROM users") == [(statuses.count(201),)]
    assert (await register(client, "afterwards")).status == 201


async def test_a_flood_of_logins_on_one_name_gets_quick_503s(aiohttp_client, config, clean_db):
    """Logins waiting their turn for one username hold a place in the queue too, so a flood
    on a few names is refused at once instead of lining up without limit."""
    client = await aiohttp_client(create_app(config.replace(bcrypt_rounds=12, bcrypt_queue=0)))
    await account(client, "frontdesk")
    replies = await asyncio.gather(*(login(client, "frontdesk") for _ in range(16)))
    statuses = [r.status for r in replies]
    assert set(statuses) <= {200, 503}
    assert statuses.count(503) >= 8, statuses
    assert (await login(client, "frontdesk")).status == 200


# --- one normal form for usernames --------------------------------------------------


def test_username_key_is_nfkc_casefolded():
    assert username_key("Alice") == "alice"
    assert username_key("\uff21\uff4c\uff49\uff43\uff45") == "alice"  # fullwidth
    assert username_key("ALİCE") != "alice"  # dotted capital I: "i" and a combining dot


async def test_a_dotted_capital_i_is_not_another_spelling(client):
    """PostgreSQL's lower() turns "ADMİN1" into "admin1"; it must not log in as admin1."""
    await account(client, "admin1", "admin")
    assert (await login(client, "admin1")).status == 200
    assert (await login(client, "ADMİN1")).status == 401


async def test_compatibility_spellings_share_the_names_count(client, config):
    """Failures as "alice" in fullwidth letters count against alice, so spelling a name
    differently gets no guesses beyond the limit."""
    await account(client, "alice", "user")
    fullwidth = "\uff41\uff4c\uff49\uff43\uff45"
    for _ in range(config.login_max_failures):
        assert (await login(client, fullwidth, "wrong password")).status == 401
    assert_throttled(await login(client, "alice"))


@pytest.mark.parametrize("name", ["admin", "Admin", "SYSTEM", "cli", "root"])
async def test_reserved_names_cannot_be_registered(client, db_rows, name):
    reply = await register(client, name)
    assert reply.status == 422
    assert reply.fields == ["username"]
    assert db_rows("SELECT count(*) FROM users") == [(0,)]


@pytest.mark.parametrize("name", ["admin", "System"])
async def test_admins_cannot_create_reserved_names(admin, name):
    body = {"username": name, "password": PASSWORD, "role": "clerk"}
    reply = await admin.post(f"{V1}/users", json=body)
    assert reply.status == 422
    assert reply.fields == ["username"]


async def test_the_command_line_may_name_an_account_admin_but_not_system(client, database_url):
    """The operator's `user add admin` (the demo and the README do it) works; an account
    named after an audit actor ('system', 'cli') is refused even there."""
    password = "a long enough password"
    made = await boxoffice_async(
        "user", "add", "admin", "--role", "admin", "--database-url", database_url,
        stdin=password + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert (await login(client, "admin", password)).status == 200
    refused = await boxoffice_async(
        "user", "add", "system", "--database-url", database_url, stdin=password + "\n"
    )
    assert refused.returncode != 0
    assert "reserved" in refused.stderr


async def test_the_normal_form_is_stored_and_unique(client, db_rows):
    assert (await register(client, "Alice")).status == 201
    assert db_rows("SELECT username, username_key FROM users") == [("Alice", "alice")]
    assert (await register(client, "ALICE")).status == 409


# --- purging ------------------------------------------------------------------------


async def test_aged_out_counts_are_purged(client, config, db_execute, db_rows):
    """Counts whose window has passed go; a fresh count and a running lock stay."""
    window = config.login_window
    db_execute(
        "INSERT INTO throttles (kind, username, address, hits, first_at, locked_until) VALUES"
        " ('login', 'old', '203.0.113.9', 3, now() - make_interval(secs => %s), NULL),"
        " ('register', '', '203.0.113.9', 2, now() - interval '2 hours', NULL),"
        " ('login', 'fresh', '203.0.113.9', 1, now(), NULL),"
        " ('login', 'locked', '203.0.113.9', 5, now() - make_interval(secs => %s),"
        "  now() + interval '1 minute'),"
        " ('register', '', '198.51.100.7', 2, now() - interval '10 minutes', NULL)",
        window + 60,
        window + 60,
    )
    # The periodic job's first run may be the one that purges them: either way, after this
    # returns they are gone.
    await client.server.app[AUTH].purge_throttles()
    left = db_rows("SELECT kind, username, address FROM throttles ORDER BY 1, 2, 3")
    assert left == [
        ("login", "fresh", "203.0.113.9"),
        ("login", "locked", "203.0.113.9"),
        ("register", "", "198.51.100.7"),
    ]


async def test_upgrading_keeps_existing_accounts_and_their_names(scratch_dsn):
    """0005 on a database with accounts: each keeps its name as shown, gains its normal
    form, and a name that is reserved now (the demo's "admin") still exists."""
    await db.migrate_database(scratch_dsn, until=4)
    run(
        scratch_dsn,
        "INSERT INTO users (username, password_hash, role) VALUES"
        " ('Alice', 'x', 'user'), ('admin', 'x', 'admin');"
        "INSERT INTO login_failures (username, failures) VALUES ('alice', 3)",
    )
    await db.migrate_database(scratch_dsn)
    assert run(scratch_dsn, "SELECT username, username_key FROM users ORDER BY id") == [
        ("Alice", "alice"),
        ("admin", "admin"),
    ]
    assert run(scratch_dsn, "SELECT to_regclass('login_failures') IS NULL") == [(True,)]
