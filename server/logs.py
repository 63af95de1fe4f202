"""Logging: plain text or JSON lines, each line of a request carrying its request id.

The request middleware (``envelope.error_middleware``) puts the request's id, method,
path and start time in a context variable. aiohttp runs every request in a task of its
own, so the value is seen by everything logged while the request is handled, by tasks it
starts, and by aiohttp's access log line written after the answer, and by nothing else.
``RequestContextFilter`` copies it onto each record; the access log line also gets the
method, path, status and duration as fields of their own.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from .config import Config, ConfigError

ACCESS_LOGGER = "aiohttp.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request_suffix)s"


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    method: str
    path: str
    started: float  # time.perf_counter() when the request reached the middleware


CURRENT_REQUEST: ContextVar[RequestContext | None] = ContextVar("boxoffice_request", default=None)


def request_started(request_id: str, method: str, path: str) -> None:
    """Called by the request middleware; the value lives as long as the request's task."""
    CURRENT_REQUEST.set(RequestContext(request_id, method, path, time.perf_counter()))


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` (None outside a request) to every record; to an access log
    record also ``method``, ``path``, ``status`` and ``duration_ms``."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = CURRENT_REQUEST.get()
        record.request_id = ctx.request_id if ctx else None
        record.request_suffix = f" [request {ctx.request_id}]" if ctx else ""
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
    """One JSON object a line: timestamp, level, logger, message, request_id, and for
    access log lines method, path, status and duration_ms; exception text when any."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        line.update(getattr(record, "access", None) or {})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def make_handler(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr by default) in the given format, with the request filter."""
    if log_format not in ("text", "json"):
        raise ConfigError("BOXOFFICE_LOG_FORMAT must be 'text' or 'json'")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    return handler


def configure(level: str = "INFO", log_format: str = "text", stream: TextIO | None = None) -> None:
    """Replace the root logger's handlers with one in ``log_format`` at ``level``, writing
    to ``stream`` (stderr by default)."""
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(make_handler(log_format, stream))
    root.setLevel(level.upper())


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
