"""The connection pool, compiled statements and schema migrations.

SQLAlchemy Core builds every statement (see ``server/queries/``); we compile each one
once to psycopg2's ``%(name)s`` form and run it on aiopg cursors, because
compiling costs about as much as a database round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any, TypeVar, cast

import aiopg
import psycopg2.extras
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement

from .multihost import follow_hosts

log = logging.getLogger(__name__)

# Several hosts in a connection string: every connection goes to the one that takes writes.
follow_hosts()

Row = dict[str, Any]
T = TypeVar("T")


def answer(row: Row | None, outcome: type[T]) -> T:
    """A statement's one-row answer as its outcome type (a TypedDict of the statement's
    columns, or ``Row``); a statement built to always answer one row that answers none is a
    bug, not a refusal."""
    if row is None:
        raise RuntimeError(f"the statement answered no row (expected a {outcome.__name__})")
    return cast(T, row)


def answer_json(row: Row | None, outcome: type[T]) -> T:
    """The JSON answer of an order function (``queries.bookings``) as its outcome type:
    amounts exact (Decimal), the timestamps (keys ending in ``_at``) as datetimes."""
    result = answer(row, Row)["result"]
    return cast(T, json.loads(result, parse_float=Decimal, object_hook=_timestamps))


def _timestamps(obj: dict[str, Any]) -> dict[str, Any]:
    for key, value in obj.items():
        if key.endswith("_at") and isinstance(value, str):
            obj[key] = datetime.fromisoformat(value)
    return obj


_DIALECT = postgresql.psycopg2.dialect()  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Query:
    """A statement compiled once; ``defaults`` holds the values of its literal binds.

    A prepared query's ``sql`` is an EXECUTE of the server-side statement that ``prepare``
    makes (once per connection, see ``Statements``): PostgreSQL then neither parses nor
    plans it again, and the client interpolates a short parameter list, not the whole text.
    """

    sql: str
    defaults: Mapping[str, Any]
    prepare: str | None = None
    name: str | None = None

    def params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **given}


_PARAMETER = re.compile(r"%\((\w+)\)s")


def compiled(stmt: ClauseElement, *, prepared: bool = False) -> Query:
    """Compile ``stmt`` for psycopg2; ``prepared`` for the hot path (the booking statement)."""
    c = stmt.compile(dialect=_DIALECT)
    sql = str(c)
    if "POSTCOMPILE" in sql:
        # An expanding IN would need SQLAlchemy at execution time; spell it out instead.
        raise ValueError(f"statement needs render-time parameters: {sql}")
    if not prepared:
        return Query(sql=sql, defaults=dict(c.params))
    names = list(dict.fromkeys(_PARAMETER.findall(sql)))
    # PostgreSQL cannot always infer a parameter's type (one used as text and as a bigint,
    # say), so the PREPARE names them all, from the types the query was built with.
    types = ", ".join(c.binds[n].type.compile(dialect=_DIALECT) for n in names)
    body = _PARAMETER.sub(lambda m: f"${names.index(m.group(1)) + 1}", sql)
    name = "bo_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
    return Query(
        # Run without parameters, so psycopg2's %% escapes are undone here.
        prepare=f"PREPARE {name} ({types}) AS {body.replace('%%', '%')}",
        name=name,
        sql=f"EXECUTE {name}({', '.join(f'%({n})s' for n in names)})",
        defaults=dict(c.params),
    )


def script(*parts: Query | str) -> Query:
    """Several statements sent as one round trip; the answer is the last one's.

    Under READ COMMITTED each statement of a script takes its own snapshot, so a statement
    after a lock sees what the lock's previous holder committed. One part may be prepared:
    the script prepares it on a connection's first use, as the part alone would.
    """
    sql: list[str] = []
    defaults: dict[str, Any] = {}
    prepared: Query | None = None
    for part in parts:
        if isinstance(part, str):
            sql.append(part)
            continue
        if part.prepare is not None:
            if prepared is not None:
                raise ValueError("a script can hold only one prepared statement")
            prepared = part
        for name, value in part.defaults.items():
            if defaults.get(name, value) != value:
                raise ValueError(f"statements disagree on the literal parameter {name!r}")
            defaults[name] = value
        sql.append(part.sql)
    return Query(
        sql=";\n".join(sql),
        defaults=defaults,
        prepare=prepared and prepared.prepare,
        name=prepared and prepared.name,
    )


# --- one transaction for a whole request -----------------------------------------
#
# A request with an Idempotency-Key must commit its work and the key's record together
# (server/idempotency.py). The work is done by whichever service its handler calls, and
# services hold the Database, not a connection. Rather than thread a connection through
# every handler and service method, ``Database.session()`` binds one connection to the
# current task: while the block runs, every statement that task runs through the Database
# (fetchone, fetchall, execute; ``transaction()`` becomes a savepoint) goes to that
# connection, inside the session's transaction. This is the whole mechanism: ``session``
# is the only place that binds (Idempotency.run its only caller) and ``_bound_cursor`` the
# only place that reads. A task started inside a session inherits the variable but not
# the binding: it gets connections of its own.
_BOUND: ContextVar[tuple[asyncio.Task[Any], aiopg.Cursor] | None] = ContextVar(
    "boxoffice_bound_cursor", default=None
)


def _bound_cursor() -> aiopg.Cursor | None:
    """The current task's session cursor, if it is inside ``Database.session()``."""
    bound = _BOUND.get()
    if bound is not None and bound[0] is asyncio.current_task():
        return bound[1]
    return None


class Prepared:
    """Which prepared statements each connection holds. A new connection (after a
    database restart, say) holds none and prepares each on its first use."""

    def __init__(self) -> None:
        self._by_connection: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    async def ensure(self, cur: aiopg.Cursor, query: Query) -> None:
        if query.prepare is None or query.name is None:
            return
        held = self._by_connection.setdefault(cur.connection, set())
        if query.name not in held:
            # PREPARE is not transactional: once it succeeds the connection keeps it.
            await cur.execute(query.prepare)
            held.add(query.name)


class Statements:
    """Runs compiled statements on one aiopg cursor."""

    def __init__(self, cur: aiopg.Cursor, prepared: Prepared) -> None:
        self._cur = cur
        self._prepared = prepared

    async def _run(self, query: Query, params: Mapping[str, Any]) -> None:
        await self._prepared.ensure(self._cur, query)
        await self._cur.execute(query.sql, query.params(params))

    async def fetchone(self, query: Query, **params: Any) -> Row | None:
        await self._run(query, params)
        return await self._cur.fetchone()

    async def fetchall(self, query: Query, **params: Any) -> list[Row]:
        await self._run(query, params)
        return list(await self._cur.fetchall())

    async def execute(self, query: Query, **params: Any) -> int:
        """Run a statement that returns no rows; answer how many rows it touched."""
        await self._run(query, params)
        return int(self._cur.rowcount)


class Database:
    """A thin async facade over the aiopg pool: every call is one round trip."""

    def __init__(self, pool: aiopg.Pool) -> None:
        self.pool = pool
        # aiopg's pool lets a newcomer take a freed connection ahead of those already
        # waiting, which starves some requests under a storm (hot-event p99 was 2.5x worse).
        # asyncio.Semaphore is first come, first served.
        self._gate = asyncio.Semaphore(pool.maxsize)
        self._prepared = Prepared()

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[aiopg.Cursor]:
        """The task's session cursor when it has one (see above), else a pooled one."""
        bound = _bound_cursor()
        if bound is not None:
            yield bound
            return
        async with (
            self._gate,
            self.pool.acquire() as conn,
            conn.cursor(cursor_factory=_DICT_CURSOR) as cur,
        ):
            yield cur

    @property
    def in_session(self) -> bool:
        """Whether the current task is inside ``session()``: its statements commit with it."""
        return _bound_cursor() is not None

    async def fetchone(self, query: Query, **params: Any) -> Row | None:
        async with self._cursor() as cur:
            return await Statements(cur, self._prepared).fetchone(query, **params)

    async def fetchall(self, query: Query, **params: Any) -> list[Row]:
        async with self._cursor() as cur:
            return await Statements(cur, self._prepared).fetchall(query, **params)

    async def execute(self, query: Query, **params: Any) -> int:
        async with self._cursor() as cur:
            return await Statements(cur, self._prepared).execute(query, **params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Statements]:
        """For the few admin operations that need more than one statement."""
        bound = _bound_cursor()
        if bound is not None:  # inside a session's transaction: a savepoint
            await bound.execute("SAVEPOINT nested")
            try:
                yield Statements(bound, self._prepared)
            except BaseException:
                await bound.execute("ROLLBACK TO SAVEPOINT nested")
                raise
            await bound.execute("RELEASE SAVEPOINT nested")
            return
        async with self._cursor() as cur, cur.begin():
            yield Statements(cur, self._prepared)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Statements]:
        """Bind a connection to this task for a transaction the caller spells out (BEGIN,
        COMMIT); see "one transaction for a whole request" above. An error rolls back."""
        task = asyncio.current_task()
        if task is None or _bound_cursor() is not None:
            raise RuntimeError("a session needs a task without one")
        async with self._cursor() as cur:
            token = _BOUND.set((task, cur))
            try:
                yield Statements(cur, self._prepared)
            except BaseException:
                # A connection left inside a transaction is closed by the pool, not reused.
                with contextlib.suppress(Exception):
                    await cur.execute("ROLLBACK")
                raise
            finally:
                _BOUND.reset(token)


_DICT_CURSOR = psycopg2.extras.RealDictCursor


async def create_pool(dsn: str, *, minsize: int, maxsize: int) -> aiopg.Pool:
    # hstore discovery costs a round trip per new connection and we do not use it.
    return await aiopg.create_pool(
        dsn, minsize=minsize, maxsize=maxsize, enable_hstore=False, timeout=30
    )


# --- migrations ------------------------------------------------------------------

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Any constant will do; it keeps two instances starting at once from migrating together.
_MIGRATION_LOCK = 0x626F786F


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every file in ``server/migrations``, in order."""
    found = []
    for entry in resources.files("server.migrations").iterdir():
        m = _MIGRATION_NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


@asynccontextmanager
async def single_connection(dsn: str) -> AsyncIterator[aiopg.Pool]:
    """A pool of one connection, for a command or a script rather than the server."""
    pool = await create_pool(dsn, minsize=1, maxsize=1)
    try:
        yield pool
    finally:
        pool.close()
        await pool.wait_closed()


async def migrate_database(dsn: str, *, until: int | None = None) -> list[str]:
    """``migrate`` the database at ``dsn`` on a connection of its own."""
    async with single_connection(dsn) as pool:
        return await migrate(pool, until=until)


async def migrate(pool: aiopg.Pool, *, until: int | None = None) -> list[str]:
    """Apply the migrations not yet applied (up to version ``until``, for upgrade tests),
    all in one transaction under an advisory lock; return their names."""
    applied: list[str] = []
    async with pool.acquire() as conn, conn.cursor() as cur, cur.begin():
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        await cur.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cur.fetchall()}
        for version, name, sql in migration_files():
            if version in done or (until is not None and version > until):
                continue
            log.info("applying migration %s", name)
            await cur.execute(sql)
            await cur.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (version, name),
            )
            applied.append(name)
    return applied
