"""The audit log: who changed what, when and from where.

Records are written by the statements that make the changes (see the ``*_audit`` CTEs in
``server/queries/``), so a change and its record commit or roll back together. This module says
who signs a record when no logged-in principal does, and lets admins browse the log
(``AuditLog``).
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Protocol

from common.models import AuditQuery

from . import queries as q
from .db import Database, Row


class Signs(Protocol):
    """Anything that signs an audit record: a ``Principal`` or a ``Signer``."""

    def audit(self) -> dict[str, object]: ...


@dataclass(frozen=True, slots=True)
class Signer:
    """The signature on a record made without a logged-in principal.

    ``actor`` None is for self-registration only: the new account signs its own record.
    """

    actor: str | None
    source: str = ""
    actor_id: int | None = None

    def audit(self) -> dict[str, object]:
        return {"actor_id": self.actor_id, "actor": self.actor, "source": self.source}


# The server acting on its own (the demo seed, accounts made by code).
SYSTEM = Signer("system", "server")


def registration(source: str) -> Signer:
    """A self-registration from ``source``: the new account is its own actor."""
    return Signer(None, source)


def command_line() -> Signer:
    """The ``boxoffice`` command: actor 'cli', source the operating-system user and host."""
    try:
        who = getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        who = "unknown"
    return Signer("cli", f"{who}@{socket.gethostname()}")


class AuditLog:
    """Reading the log; nothing here writes to it."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def browse(self, query: AuditQuery) -> list[Row]:
        """Records matching every filter given, newest first."""
        return await self.db.fetchall(q.LIST_AUDIT, **query.model_dump())
