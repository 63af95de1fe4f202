"""The ``boxoffice`` command, run for real: migrate, user add, token add, serve, and its
configuration."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from support import call, event_body

from server import embedded
from server.config import Config, ConfigError

BOXOFFICE = str(Path(sys.executable).parent / "boxoffice")
SERVE_DEADLINE = 60  # seconds for `boxoffice serve` on a fresh embedded database


def clean_env(**extra):
    """The test's environment without any BOXOFFICE_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")}
    return env | extra


def boxoffice(*args, stdin="", **env):
    """Run the installed command and return the finished process."""
    return subprocess.run(
        [BOXOFFICE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean_env(**env),
        timeout=60,
        check=False,
    )


async def boxoffice_async(*args, stdin=""):
    """The same, off the event loop, so a test's server keeps running meanwhile."""
    return await asyncio.to_thread(boxoffice, *args, stdin=stdin)


# --- migrate ----------------------------------------------------------------------


def test_migrate_twice_says_up_to_date(database_url):
    """A second `boxoffice migrate` reports that the schema is up to date."""
    first = boxoffice("migrate", "--database-url", database_url)
    assert first.returncode == 0, first.stderr
    second = boxoffice("migrate", "--database-url", database_url)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "schema is up to date"


def test_database_url_flag_overrides_env(database_url):
    """--database-url wins over a BOXOFFICE_DATABASE_URL that points nowhere."""
    nowhere = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    done = boxoffice("migrate", "--database-url", database_url, BOXOFFICE_DATABASE_URL=nowhere)
    assert done.returncode == 0, done.stderr
    assert "schema is up to date" in done.stdout or "applied" in done.stdout


# --- user add ---------------------------------------------------------------------


async def test_user_add_makes_an_admin_who_can_log_in(client, database_url):
    """`boxoffice user add` with a password on stdin makes a working admin account."""
    done = await boxoffice_async(
        "user",
        "add",
        "boss",
        "--role",
        "admin",
        "--database-url",
        database_url,
        stdin="a long enough password\n",
    )
    assert done.returncode == 0, done.stderr
    assert "created admin boss" in done.stdout
    login = await call(
        client,
        "POST",
        "/api/v1/auth/login",
        json={"username": "boss", "password": "a long enough password"},
    )
    assert login.status == 200
    assert login.data["role"] == "admin"
    created = await call(
        client, "POST", "/api/v1/events", token=login.data["access_token"], json=event_body()
    )
    assert created.status == 201


async def test_user_add_refuses_a_short_password(client, database_url, db_rows):
    """A too-short password is refused with a message, and no account is made."""
    done = await boxoffice_async(
        "user", "add", "shorty", "--database-url", database_url, stdin="short\n"
    )
    assert done.returncode != 0
    assert "password" in done.stderr
    assert "8 characters" in done.stderr
    assert db_rows("SELECT count(*) FROM users") == [(0,)]


@pytest.mark.parametrize("name", ["user1", "USER1"])
async def test_user_add_refuses_a_taken_name(user, database_url, name):
    """An existing username (in any case) exits non-zero saying it is taken."""
    assert user.username == "user1"
    done = await boxoffice_async(
        "user", "add", name, "--database-url", database_url, stdin="another password\n"
    )
    assert done.returncode != 0
    assert f"The username '{name}' is taken" in done.stderr


# --- token add --------------------------------------------------------------------


async def test_token_add_prints_a_working_token_alone(client, make_event, database_url, db_rows):
    """`boxoffice token add` prints just the token (for TOKEN=$(...)); it works at once, with
    its role, and the audit log says the command line issued it."""
    done = await boxoffice_async(
        "token", "add", "Box Partner", "--role", "clerk", "--database-url", database_url
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("bo_") and "\n" not in token, done.stdout
    assert "shown only now" in done.stderr and token not in done.stderr
    event = await make_event()
    sale = {"event_id": event["id"], "quantity": 2, "customer_name": "Walk-in"}
    sold = await call(client, "POST", "/api/v1/bookings", token=token, json=sale)
    assert sold.status == 201, sold.body
    report = await call(client, "GET", "/api/v1/reports/shift", token=token)
    assert report.status == 200, report.body  # clerks only
    [(actor, action, name)] = db_rows(
        "SELECT actor, action, details->>'name' FROM audit_log WHERE action = 'token.create'"
    )
    assert (actor, action, name) == ("cli", "token.create", "Box Partner")


async def test_token_add_refuses_a_blank_name(client, database_url, db_rows):
    done = await boxoffice_async("token", "add", "  ", "--database-url", database_url)
    assert done.returncode == 2
    assert "name" in done.stderr and done.stdout == ""
    assert db_rows("SELECT count(*) FROM api_tokens") == [(0,)]


# --- venue import and export --------------------------------------------------------

PLANS = Path(__file__).resolve().parent.parent / "server" / "plans"


async def test_venue_import_and_export_round_trip(client, database_url, db_rows, tmp_path):
    """`venue import` creates the theatre (audited as cli); `venue export` prints a plan that,
    imported again with --venue, keeps every seat as it was, ids included."""
    done = await boxoffice_async(
        "venue", "import", str(PLANS / "theatre.json"), "--database-url", database_url
    )
    assert done.returncode == 0, done.stderr
    assert "created venue 1 (Royal Court Theatre): 396 seats" in done.stdout
    before = db_rows(
        "SELECT id, section, row_label, number, x, y, zone, wheelchair, companion,"
        " restricted_view FROM seats ORDER BY id"
    )
    exported = await boxoffice_async("venue", "export", "1", "--database-url", database_url)
    assert exported.returncode == 0, exported.stderr
    plan = json.loads(exported.stdout)
    assert plan["name"] == "Royal Court Theatre"
    path = tmp_path / "exported.json"
    path.write_text(exported.stdout)
    again = await boxoffice_async(
        "venue", "import", str(path), "--venue", "1", "--database-url", database_url
    )
    assert again.returncode == 0, again.stderr
    assert "replaced the plan of venue 1" in again.stdout
    after = db_rows(
        "SELECT id, section, row_label, number, x, y, zone, wheelchair, companion,"
        " restricted_view FROM seats ORDER BY id"
    )
    assert after == before
    records = db_rows(
        "SELECT actor, action FROM audit_log WHERE action LIKE 'venue.%%' ORDER BY id"
    )
    assert records == [("cli", "venue.create"), ("cli", "venue.update")]
    served = await call(client, "GET", "/api/v1/venues/1")
    assert served.data["version"] == 2


def test_venue_export_into_a_closed_pipe_stops_quietly(client, database_url):
    """`boxoffice venue export 1 | true`: the reader is gone before anything is written (it
    exits at once; the command takes a while to start), and the command stops quietly."""
    done = boxoffice("venue", "import", str(PLANS / "arena.json"), "--database-url", database_url)
    assert done.returncode == 0, done.stderr
    pipeline = f'"{BOXOFFICE}" venue export 1 --database-url "$DSN" | true'
    done = subprocess.run(
        ["bash", "-c", pipeline + "; exit ${PIPESTATUS[0]}"],
        capture_output=True,
        text=True,
        env=clean_env(DSN=database_url),
        timeout=60,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 141


async def test_venue_import_names_each_problem(client, database_url, db_rows, tmp_path):
    """A plan with an overlap exits 2 naming the place; an unknown venue exits 1."""
    plan = json.loads((PLANS / "studio.json").read_text())
    plan["sections"][0]["rows"][1]["y"] = 0
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(plan))
    done = await boxoffice_async("venue", "import", str(path), "--database-url", database_url)
    assert done.returncode == 2
    assert "sections.0.rows.1.seats" in done.stderr and "overlaps" in done.stderr
    assert db_rows("SELECT count(*) FROM venues") == [(0,)]
    missing = await boxoffice_async("venue", "export", "7", "--database-url", database_url)
    assert missing.returncode == 1 and "Venue 7 not found" in missing.stderr


# --- serve without a secret and configuration -------------------------------------


def test_serve_needs_a_jwt_secret_with_a_real_database(database_url):
    """`serve` on a real database without BOXOFFICE_JWT_SECRET exits saying so."""
    done = boxoffice("serve", "--database-url", database_url)
    assert done.returncode != 0
    assert "BOXOFFICE_JWT_SECRET" in done.stderr


def test_serve_refuses_a_short_jwt_secret(database_url):
    """A JWT secret under 32 characters is refused before anything starts."""
    done = boxoffice("serve", "--database-url", database_url, BOXOFFICE_JWT_SECRET="short")
    assert done.returncode != 0
    assert "BOXOFFICE_JWT_SECRET must be at least 32 characters" in done.stderr


def test_non_numeric_port_in_env_is_a_clear_error():
    """BOXOFFICE_PORT=eighty stops the command with a message naming the variable."""
    done = boxoffice("serve", BOXOFFICE_PORT="eighty")
    assert done.returncode != 0
    assert "BOXOFFICE_PORT must be a whole number, not 'eighty'" in done.stderr


def test_config_reads_the_environment():
    """Config.from_env reads BOXOFFICE_* variables with their types."""
    config = Config.from_env(
        {
            "BOXOFFICE_PORT": "9000",
            "BOXOFFICE_HOST": "0.0.0.0",
            "BOXOFFICE_DATA_DIR": "/srv/boxoffice",
            "BOXOFFICE_BCRYPT_ROUNDS": "5",
            "BOXOFFICE_DATABASE_URL": "postgresql://db/boxoffice",
            "BOXOFFICE_UNRELATED": "ignored",
        }
    )
    assert (config.port, config.host) == (9000, "0.0.0.0")
    assert config.data_dir == Path("/srv/boxoffice")
    assert config.bcrypt_rounds == 5
    assert config.database_url == "postgresql://db/boxoffice"


def test_config_flags_override_the_environment():
    """Given values (the CLI flags) win over the environment; None leaves it alone."""
    env = {"BOXOFFICE_PORT": "9000", "BOXOFFICE_HOST": "0.0.0.0"}
    config = Config.from_env(env, port=9100, host=None)
    assert (config.port, config.host) == (9100, "0.0.0.0")


def test_config_defaults_and_empty_values():
    """An empty variable counts as unset, so the default applies."""
    config = Config.from_env({"BOXOFFICE_PORT": ""})
    assert (config.port, config.host, config.database_url) == (8080, "127.0.0.1", None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BOXOFFICE_PORT": "eighty"}, "BOXOFFICE_PORT must be a whole number"),
        ({"BOXOFFICE_BCRYPT_ROUNDS": "2"}, "BOXOFFICE_BCRYPT_ROUNDS must be between 4 and 31"),
        ({"BOXOFFICE_JWT_SECRET": "too short"}, "at least 32 characters"),
        ({"BOXOFFICE_POOL_MAX_SIZE": "0"}, "BOXOFFICE_POOL_MAX_SIZE"),
    ],
)
def test_config_errors_name_the_variable(env, message):
    """A bad value is a ConfigError that says which variable to fix."""
    with pytest.raises(ConfigError, match=message):
        Config.from_env(env)


# --- serve on the embedded database -----------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, json.load(resp)


def wait_until_up(proc, url, log):
    """Poll ``url`` until it answers, the process dies, or the deadline passes."""
    deadline = time.monotonic() + SERVE_DEADLINE
    while True:
        try:
            return get_json(url)
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"no answer from {url} within {SERVE_DEADLINE} s:\n{log.read_text()}")
        try:
            proc.wait(timeout=0.2)  # the pause between polls, ending early if it exits
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"boxoffice serve exited with {proc.returncode}:\n{log.read_text()}")


def test_serve_on_the_embedded_database(tmp_path, embedded_dirs):
    """`boxoffice serve` with no database URL starts an embedded PostgreSQL and answers.
    The data directory and the secret in it end up owner-only, even when an earlier
    version left them wider."""
    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    data_dir.mkdir(mode=0o755)
    (data_dir / "jwt_secret").write_text("an-earlier-secret-" + "z" * 40)
    (data_dir / "jwt_secret").chmod(0o644)
    embedded_dirs.append(data_dir)
    pgdata = embedded.pgdata_of(data_dir)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [BOXOFFICE, "serve"],
            env=clean_env(BOXOFFICE_DATA_DIR=str(data_dir), BOXOFFICE_PORT=str(port)),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        status, body = wait_until_up(proc, f"http://127.0.0.1:{port}/", log)
        assert status == 200
        assert body["data"]["status"] == "healthy"
        status, body = get_json(f"http://127.0.0.1:{port}/api/v1/events")
        assert (status, body["data"]) == (200, [])
        secret = data_dir / "jwt_secret"
        assert secret.read_text() == "an-earlier-secret-" + "z" * 40  # kept, not replaced
        assert secret.stat().st_mode & 0o777 == 0o600
        assert data_dir.stat().st_mode & 0o777 == 0o700
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=SERVE_DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, log.read_text()
    assert not (pgdata / "postmaster.pid").exists(), "PostgreSQL left running"
