"""Health check, the OpenAPI document and the human-readable docs page."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from common.models import Health

from .. import openapi
from ..api import endpoint
from ..envelope import dumps, ok

NAME = "Boxoffice"
VERSION = "0.1.0"
OPENAPI = web.AppKey("openapi", dict)


@endpoint(summary="Health check", tag="meta", response=Health)
async def health(request: web.Request) -> web.Response:
    return ok(Health(name=NAME, version=VERSION, status="healthy"))


async def build_document(app: web.Application) -> None:
    """On startup, when the router is final: the document never changes after."""
    app[OPENAPI] = openapi.build(app, title=f"{NAME} API", version=VERSION)


def document(app: web.Application) -> dict[str, Any]:
    return app[OPENAPI]


async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document itself (raw JSON, as tools expect, not an envelope)."""
    return web.json_response(document(request.app), dumps=dumps)


@aiohttp_jinja2.template("docs.html")
async def docs(request: web.Request) -> dict[str, Any]:
    """This documentation as a web page."""
    doc = document(request.app)
    operations = [
        {"method": method.upper(), "path": path, **op}
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    ]
    return {"doc": doc, "operations": operations, "schemas": doc["components"]["schemas"]}
