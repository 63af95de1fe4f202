"""The OpenAPI 3.1 document, generated from the routes and their ``endpoint`` specs.

It walks the application's router, so every route that exists is documented, with the
same roles, bodies and responses the handlers enforce.
"""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from common.models import ROLES, envelope_schema

from . import examples, idempotency
from .api import Spec

API_PREFIX = "/api/v1"
ASSETS = "/docs/assets"  # Swagger UI's and Redoc's files, from openapi-ui-bundles

DESCRIPTION = """\
Boxoffice sells seats for events at the counter and through partners. Try any call on
[/docs](/docs); the reference is on [/redoc](/redoc), and the websocket protocol on
[/docs/plain](/docs/plain).

## Envelope

Every response is an envelope `{code, message, status, data}`; the HTTP status equals
`code`. Errors carry `data.errors = [{field, message}]` where a field is at fault.

## Authentication

Send `Authorization: Bearer <token>` (the **Authorize** button): an access token from
`POST /api/v1/auth/login`, or an integration API token (`bo_...`) that an admin issues.

## Safe retries

Changes accept an `Idempotency-Key` header: a retry with the same key gets the first
answer again, with `Idempotent-Replayed: true`, and is not done twice.

## Paging

Lists take `skip` and `limit` and keep the `data` array as it was. The answer also says:

- `X-Total-Count`: how many match in all;
- `Link`: the `next` and `prev` pages, e.g.
  `</api/v1/events?skip=20&limit=20>; rel="next"`.
"""

_STATUS_TEXT = {
    200: "Success",
    201: "Created",
    304: "Not modified: the ETag sent as If-None-Match is current (no body)",
    400: "Malformed request",
    401: "Missing, invalid or expired access token",
    403: "The token's role may not do this",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "Request body too large",
    422: "Validation failed: data.errors names each field",
    429: "Too many attempts: see Retry-After",
}


def build(app: web.Application, *, title: str, version: str) -> dict[str, Any]:
    # HEAD comes with every GET and answers the same, without a body: not listed apart.
    served = [
        (route.method.lower(), route.resource.canonical, route.handler)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    ]
    routes = [(m, p, h.spec) for m, p, h in served if hasattr(h, "spec")]
    models = _models(spec for _, _, spec in routes)
    _, defs = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for method, path, spec in routes:
        paths.setdefault(path, {})[method] = _operation(spec, path, method)
    for method, path, handler in served:
        if path.startswith(ASSETS):  # the explorer's scripts and styles
            continue
        if not hasattr(handler, "spec"):  # the document and the docs page themselves
            paths.setdefault(path, {})[method] = _plain_operation(handler)
        elif hasattr(handler, "media_types"):  # a page or a file besides (or instead of) JSON
            _add_media(paths[path][method], handler)
    schemas = defs.get("$defs", {})
    for ops in paths.values():
        for op in ops.values():
            _add_examples(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": DESCRIPTION,
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _models(specs: Any) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for spec in specs:
        for m in (spec.body, spec.query, _item_model(spec.response), *spec.messages):
            if m is not None:
                found[m.__name__] = m
    return list(found.values())


def _item_model(response: Any) -> type[BaseModel] | None:
    if get_origin(response) is list:
        return get_args(response)[0]
    return response


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(spec: Spec, path: str, method: str = "get") -> dict[str, Any]:
    op: dict[str, Any] = {"summary": spec.summary, "tags": [spec.tag]}
    if spec.description:
        op["description"] = spec.description
    if spec.websocket:
        return op | _websocket(spec)
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        }
        for name in re.findall(r"{(\w+)}", path)
    ]
    if spec.query is not None:
        for name, field in spec.query.model_fields.items():
            schema = spec.query.model_json_schema()["properties"][name]
            params.append(
                {"name": name, "in": "query", "required": False, "schema": schema}
                | ({"description": field.description} if field.description else {})
            )
    if spec.roles is not None and method.upper() in idempotency.METHODS:
        params.append(_IDEMPOTENCY_KEY)
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(spec.body)}},
        }
    data: dict[str, Any] = {"type": "null"}
    item = _item_model(spec.response)
    if item is not None:
        data = {"type": "array", "items": _ref(item)} if item is not spec.response else _ref(item)
    responses = {str(spec.status): _response(spec.status, data)}
    errors = set(spec.errors)
    if spec.roles is not None:
        op["security"] = [{"bearer": []}]
        op["x-roles"] = sorted(spec.roles)
        errors |= {401} | ({403} if spec.roles != ROLES else set())
    elif spec.viewer:  # anonymous, or identified by a token
        op["security"] = [{}, {"bearer": []}]
        errors |= {401}
    if spec.body is not None:
        errors |= {400, 413, 422}
    if spec.query is not None:
        errors |= {422}
    for code in sorted(errors):
        responses[str(code)] = _response(code, {})
    op["responses"] = responses
    return op


def _websocket(spec: Spec) -> dict[str, Any]:
    """OpenAPI has no words for websockets: the upgrade, its token and its messages."""
    return {
        "parameters": [
            {
                "name": "token",
                "in": "query",
                "required": False,
                "description": "the access token or API token (bo_...), for clients that "
                "cannot send headers",
                "schema": {"type": "string"},
            }
        ],
        "security": [{"bearer": []}],
        "x-roles": sorted(spec.roles or ()),
        "x-websocket-messages": {m.__name__: _ref(m) for m in spec.messages},
        "responses": {
            "101": {"description": "Switching to the websocket protocol (see the description)"}
        },
    }


def produces(media_type: str, schema: dict[str, Any] | None = None, *, only: bool = False) -> Any:
    """Document that a handler's success answer can be ``media_type`` (an HTML page, a CSV
    file); with ``only``, that it is never the JSON envelope. Errors stay envelopes."""

    def mark(handler: Any) -> Any:
        media = {**getattr(handler, "media_types", {}), media_type: schema or {"type": "string"}}
        handler.media_types = media
        handler.media_only = only or getattr(handler, "media_only", False)
        return handler

    return mark


def _add_media(op: dict[str, Any], handler: Any) -> None:
    success = op["responses"][str(handler.spec.status)]
    content = {} if handler.media_only else success["content"]
    success["content"] = content | {t: {"schema": s} for t, s in handler.media_types.items()}


_IDEMPOTENCY_KEY = {
    "name": idempotency.HEADER,
    "in": "header",
    "required": False,
    "description": "Makes retries safe: the first final answer (2xx or 4xx) to this key is "
    "kept for 24 hours and replayed, with 'Idempotent-Replayed: true', to retries of the "
    "same request, which is not done again. The same key with another request is a 422.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}


def _plain_operation(handler: Any) -> dict[str, Any]:
    summary = (handler.__doc__ or handler.__name__).strip().splitlines()[0]
    return {"summary": summary, "tags": ["meta"], "responses": {"200": {"description": "Success"}}}


def _add_examples(op: dict[str, Any], schemas: dict[str, Any]) -> None:
    """An example request body (written by hand: it must pass the rules no schema says)
    and an example answer for each status that has a JSON body, made from its schema."""
    for param in op.get("parameters", ()):
        if param["in"] == "path":
            param["example"] = 1
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        name = body["schema"]["$ref"].rsplit("/", 1)[-1]
        body["example"] = examples.REQUESTS.get(name) or examples.sample(body["schema"], schemas)
    for code, response in op.get("responses", {}).items():
        media = response.get("content", {}).get("application/json")
        if media is None or not code.isdigit():
            continue
        example = examples.sample(media["schema"], schemas)
        if isinstance(example, dict) and "code" in example:  # the envelope
            example |= {"code": int(code), "message": _STATUS_TEXT.get(int(code), "Success")}
            example["status"] = "success" if int(code) < 400 else "error"
            if int(code) >= 400:
                example["data"] = {}
        media["example"] = example


def _response(code: int, data: dict[str, Any]) -> dict[str, Any]:
    if code == 304:  # no body: the caller's copy (its If-None-Match ETag) is current
        return {"description": _STATUS_TEXT[304]}
    return {
        "description": _STATUS_TEXT.get(code, "Response"),
        "content": {"application/json": {"schema": envelope_schema(data)}},
    }
