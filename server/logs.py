"""Logging: plain text or JSON lines, each line of a request carrying its request id.

The request middleware (``envelope.error_middleware``) puts the request's id, client
address, method, path and start time in a context variable. aiohttp runs every request in
a task of its own, so the value is seen by everything logged while the request is handled,
by tasks it starts, and by aiohttp's access log line written after the answer, and by
nothing else.
``RequestContextFilter`` copies it onto each record; the access log line also gets the
method, path, status and duration as fields of their own.

The client address is ``clients.client_address``: behind BOXOFFICE_TRUSTED_PROXIES, the
client the proxies name rather than the proxy. aiohttp's access log line reads the peer
(``%a``), so ``ClientAccessLogger`` shows it the client's address instead.

``RedactSecrets`` (on every handler ``make_handler`` builds) replaces the value of any
``name=value`` pair whose name contains ``token`` or ``secret`` with ``REDACTED``: browsers
send access and API tokens as ``?token=`` (the websocket, the ticket page), and aiohttp's
access log line holds the request line and the Referer in full.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

from aiohttp.web_log import AccessLogger

from .clients import CLIENT_ADDRESS
from .config import Config, ConfigError

ACCESS_LOGGER = "aiohttp.access"
# BOXOFFICE_ACCESS_LOG=errors (the default) logs only answers of 400 and more and requests
# slower than this; "full" every request; "off" none. A line costs more than a browse
# answered from the cache (bench/browse.py: about a quarter of a process's time).
SLOW_REQUEST_SECONDS = 1.0
TEXT_FORMAT = "%(asctime)s %(levelname)s %(worker_prefix)s%(name)s: %(message)s%(request_suffix)s"


REDACTED = "REDACTED"
# A name=value pair as in a query string, a header or a message. The value runs to the next
# separator; a value cut short errs on the side of redacting too much, never too little.
_PAIR = re.compile(r"(?P<name>[^\s&?=#\"'<>;,/]+)=(?P<value>[^&\s\"'#<>]*)")
_SECRET_NAME = re.compile(r"token|secret", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the value of every ``name=value`` pair whose name (percent-decoded,
    in any case) contains ``token`` or ``secret`` replaced by ``REDACTED``."""
    lowered = text.lower()
    if "=" not in text or not ("token" in lowered or "secret" in lowered or "%" in text):
        return text  # most lines; "%" may hide a percent-encoded name
    return _PAIR.sub(_redact_pair, text)


def _redact_pair(match: re.Match[str]) -> str:
    name = match["name"]
    if match["value"] and _SECRET_NAME.search(unquote(name)):
        return f"{name}={REDACTED}"
    return match[0]


class RedactSecrets(logging.Filter):
    """Redacts token and secret parameters from a record's message, its exception text and
    the access log's extra fields, before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it as logging does
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        # aiohttp's access logger also attaches the request line and headers as fields.
        line = getattr(record, "first_request_line", None)
        if isinstance(line, str):
            record.first_request_line = redact(line)
        headers = getattr(record, "request_header", None)
        if isinstance(headers, dict):
            record.request_header = {k: redact(str(v)) for k, v in headers.items()}
        return True


class ClientAccessLogger(AccessLogger):
    """aiohttp's access log line, naming the client behind trusted proxies, not the proxy."""

    def log(self, request: Any, response: Any, time: float) -> None:
        # None when the request never got that far (an unreadable request line): the peer.
        client = request.get(CLIENT_ADDRESS) if request is not None else None
        if client is not None and client != request.remote:
            request = _SeenFrom(request, client)
        super().log(request, response, time)


class _SeenFrom:
    """A request as the access log reads it, from ``remote`` instead of its peer.
    (AccessLogger looks its ``%a`` up on itself, so a subclass cannot replace it.)"""

    def __init__(self, request: Any, remote: str) -> None:
        self._request = request
        self.remote = remote

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


class FailuresAccessLogger(ClientAccessLogger):
    """The access log line, for failed or slow requests only."""

    def log(self, request: Any, response: Any, time: float) -> None:
        if response.status >= 400 or time >= SLOW_REQUEST_SECONDS:
            super().log(request, response, time)


def access_log(config: Config) -> dict[str, Any]:
    """The runner's access log options for BOXOFFICE_ACCESS_LOG (``run_app``, ``AppRunner``)."""
    if config.access_log == "off":
        return {"access_log": None}
    if config.access_log == "errors":
        return {"access_log_class": FailuresAccessLogger}
    return {"access_log_class": ClientAccessLogger}


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    method: str
    path: str
    client: str  # the client's address (clients.client_address)
    started: float  # time.perf_counter() when the request reached the middleware


CURRENT_REQUEST: ContextVar[RequestContext | None] = ContextVar("boxoffice_request", default=None)


def request_started(request_id: str, method: str, path: str, client: str) -> None:
    """Called by the request middleware; the value lives as long as the request's task."""
    CURRENT_REQUEST.set(RequestContext(request_id, method, path, client, time.perf_counter()))


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` and ``client`` (None outside a request) and ``worker`` (None
    outside ``serve --workers``) to every record; to an access log record also ``method``,
    ``path``, ``status`` and ``duration_ms``."""

    def __init__(self, worker: int | None = None) -> None:
        super().__init__()
        self.worker = worker

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = CURRENT_REQUEST.get()
        record.worker = self.worker
        record.worker_prefix = f"[worker {self.worker}] " if self.worker is not None else ""
        record.request_id = ctx.request_id if ctx else None
        record.client = ctx.client if ctx else None
        suffix = f" [request {ctx.request_id} from {ctx.client or '-'}]" if ctx else ""
        record.request_suffix = suffix
        if record.name == ACCESS_LOGGER:
            status = getattr(record, "response_status", None)
            access: dict[str, Any] = {"status": int(status) if status is not None else None}
            if ctx is not None:
                access |= {
                    "method": ctx.method,
                    "path": ctx.path,
                    "duration_ms": round((time.perf_counter() - ctx.started) * 1000, 3),
                }
            record.access = access
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp, level, logger, message, request_id, client, and
    for access log lines method, path, status and duration_ms; exception text when any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "client": getattr(record, "client", None),
        }
        if (worker := getattr(record, "worker", None)) is not None:
            line["worker"] = worker
        line.update(getattr(record, "access", None) or {})
        if record.exc_text:  # RedactSecrets has formatted (and redacted) it
            line["exception"] = record.exc_text
        elif record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def make_handler(
    log_format: str, stream: TextIO | None = None, *, worker: int | None = None
) -> logging.Handler:
    """A stream handler (stderr by default) in the given format, with the request filter."""
    if log_format not in ("text", "json"):
        raise ConfigError("BOXOFFICE_LOG_FORMAT must be 'text' or 'json'")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactSecrets())
    handler.addFilter(RequestContextFilter(worker))
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    return handler


def configure(
    level: str = "INFO",
    log_format: str = "text",
    stream: TextIO | None = None,
    *,
    worker: int | None = None,
) -> None:
    """Replace the root logger's handlers with one in ``log_format`` at ``level``, writing
    to ``stream`` (stderr by default); a worker of ``serve --workers`` names itself."""
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(make_handler(log_format, stream, worker=worker))
    root.setLevel(level.upper())


def open_private(path: Path) -> TextIO:
    """Open a log file for appending, readable by its owner only (0600), even when it
    already exists with a wider mode."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def configure_from_env(environ: Mapping[str, str] | None = None) -> None:
    """``configure`` from BOXOFFICE_LOG_LEVEL and BOXOFFICE_LOG_FORMAT. A bad value falls
    back to the defaults here; the full configuration, read next, reports it."""
    environ = os.environ if environ is None else environ
    wanted = {
        k: v for k, v in environ.items() if k in ("BOXOFFICE_LOG_LEVEL", "BOXOFFICE_LOG_FORMAT")
    }
    try:
        config = Config.from_env(wanted)
        configure(config.log_level, config.log_format)
    except (ConfigError, ValueError):
        configure()
