"""Connection strings with several hosts (``host=a,b`` or ``postgresql://a:5432,b:5432/db``,
with ``target_session_attrs=read-write``): aiopg 1.4 made to follow libpq to the next host.

libpq tries the hosts in turn and keeps the first that takes writes: after a failover that is
the new primary. While connecting it closes the socket of a host that failed (refused, or a
standby) and opens one to the next. aiopg 1.4 watches the first socket only: the next one
often gets the same descriptor number, which the event loop's epoll no longer holds, and the
connection fails with FileNotFoundError or hangs until its timeout, whenever the first host
listed is not the primary. Here, while a connection is being made, every poll checks whether
libpq's socket changed and watches the new one instead. Once connected, a connection keeps
its socket, and aiopg's own code runs unchanged.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from typing import Any

import aiopg
import psycopg2.extensions
from aiopg.connection import Connection

# The version whose connection internals (_ready, _fileno, _writing, _waiter) this follows.
AIOPG_VERSION = "1.4.0"
_aiopg_ready = Connection._ready
# psycopg2's connection states while connecting (SETUP, CONNECTING, DATESTYLE; only the first
# is exported).
_CONNECTING = {psycopg2.extensions.STATUS_SETUP, 20, 21}
_SOCKETS: weakref.WeakKeyDictionary[Connection, tuple[int, int]] = weakref.WeakKeyDictionary()


def _socket(fd: int) -> tuple[int, int]:
    """A socket's identity: its descriptor and its inode (a new socket may reuse the number)."""
    return fd, os.fstat(fd).st_ino


def _ready(weak_self: weakref.ref[Any]) -> None:
    self = weak_self()
    if self is None or self._conn.status not in _CONNECTING:
        _aiopg_ready(weak_self)  # connected (or closed): aiopg's own
        return
    if self._fileno is not None and self not in _SOCKETS:
        _SOCKETS[self] = _socket(self._fileno)
    try:
        state = self._conn.poll()
        fd = self._conn.fileno()
        moved = self._fileno is not None and _socket(fd) != _SOCKETS[self]
    except (psycopg2.Error, OSError) as exc:
        # libpq closed its socket: forget the number too, or closing the connection later
        # would stop the loop watching whichever socket gets that number next.
        _forget(self)
        self._fileno = None
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        return
    if moved:
        # libpq went on to the next host: stop watching the old socket, watch the new one.
        _forget(self)
        self._fileno = fd
        _SOCKETS[self] = _socket(fd)
        self._loop.add_reader(fd, _ready, weak_self)
    if state == psycopg2.extensions.POLL_WRITE:
        if not self._writing:
            self._loop.add_writer(self._fileno, _ready, weak_self)
            self._writing = True
        return
    if self._writing:
        self._loop.remove_writer(self._fileno)
        self._writing = False
    waiter = self._waiter
    if state == psycopg2.extensions.POLL_OK and waiter is not None and not waiter.done():
        waiter.set_result(None)


def _forget(self: Connection) -> None:
    """Stop watching the connection's socket, which may be closed already (epoll then
    dropped it by itself and the loop's bookkeeping is all there is to undo)."""
    if self._fileno is None:
        return
    with contextlib.suppress(OSError):
        if self._writing:
            self._loop.remove_writer(self._fileno)
    with contextlib.suppress(OSError):
        self._loop.remove_reader(self._fileno)
    self._writing = False


def follow_hosts() -> None:
    """Install the connecting poll above on aiopg's Connection (once; idempotent)."""
    if aiopg.__version__ != AIOPG_VERSION:
        raise RuntimeError(f"server/multihost.py follows aiopg {AIOPG_VERSION} internals")
    Connection._ready = staticmethod(_ready)  # type: ignore[method-assign]
