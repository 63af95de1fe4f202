"""Health checks (liveness, readiness), metrics, the OpenAPI document and the docs page."""

from __future__ import annotations

from typing import Any, Literal

import aiohttp_jinja2
from aiohttp import web
from markdown_it import MarkdownIt
from markupsafe import Markup

from common.models import Health, Response

from .. import openapi
from ..api import endpoint
from ..envelope import dumps, error_response, ok
from ..keys import HEALTH, METRICS, OPENAPI

NAME = "Boxoffice"
VERSION = "0.1.0"


class Readiness(Response):
    status: Literal["ready", "not ready"]
    # Each check: "ok" or why it failed ("timeout", "down", "error: ...").
    checks: dict[str, str]


@endpoint(summary="Health check", tag="meta", response=Health)
async def health(request: web.Request) -> web.Response:
    return ok(Health(name=NAME, version=VERSION, status="healthy"))


@endpoint(summary="Liveness: the process answers (always 200)", tag="meta", response=Health)
async def healthz(request: web.Request) -> web.Response:
    return ok(Health(name=NAME, version=VERSION, status="alive"))


@endpoint(
    summary="Readiness: the database answers and live updates are connected",
    tag="meta",
    response=Readiness,
    errors=(503,),
    description=(
        "200 when the database answers SELECT 1 within 2 seconds and the LISTEN connection "
        "that feeds live updates is up; otherwise 503, with data.checks naming what failed."
    ),
)
async def readyz(request: web.Request) -> web.Response:
    checks = await request.app[HEALTH].checks()
    if all(v == "ok" for v in checks.values()):
        return ok(Readiness(status="ready", checks=checks), message="Ready")
    failed = ", ".join(k for k, v in checks.items() if v != "ok")
    data = Readiness(status="not ready", checks=checks)
    return error_response(503, f"Not ready: {failed}", data)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics (text exposition format)."""
    return await request.app[METRICS].handler(request)


async def build_document(app: web.Application) -> None:
    """On startup, when the router is final: the document never changes after."""
    app[OPENAPI] = openapi.build(app, title=f"{NAME} API", version=VERSION)


def document(app: web.Application) -> dict[str, Any]:
    return app[OPENAPI]


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document itself (raw JSON, as tools expect, not an envelope)."""
    return web.json_response(document(request.app), dumps=dumps)


@aiohttp_jinja2.template("swagger.html")
async def docs(request: web.Request) -> dict[str, Any]:
    """The interactive explorer (Swagger UI): try any call, with Authorize for a token."""
    return {"title": document(request.app)["info"]["title"]}


@aiohttp_jinja2.template("redoc.html")
async def redoc(request: web.Request) -> dict[str, Any]:
    """The reference (Redoc): every operation, its schemas and examples."""
    return {"title": document(request.app)["info"]["title"]}


def markdown(text: str | None) -> Markup:
    """A description's Markdown as HTML; raw HTML in it is shown as text, not run."""
    return Markup(_MARKDOWN.render(text or ""))


_MARKDOWN = MarkdownIt("commonmark", {"html": False})


@aiohttp_jinja2.template("docs_plain.html")
async def docs_plain(request: web.Request) -> dict[str, Any]:
    """This documentation as a plain page (no JavaScript), with the websocket protocol."""
    doc = document(request.app)
    operations = [
        {"method": method.upper(), "path": path, **op}
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    ]
    return {"doc": doc, "operations": operations, "schemas": doc["components"]["schemas"]}
