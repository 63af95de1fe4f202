"""The OpenAPI document describes every route, and the server's real answers fit it."""

import re

import pytest
from jsonschema import Draft202012Validator
from support import call, event_body

from server.openapi import ASSETS

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


async def fetch_document(client):
    async with client.get("/api/v1/openapi.json") as resp:
        assert resp.status == 200
        assert resp.content_type == "application/json"
        return await resp.json()


def app_routes(client):
    """(method, path, handler) for every route of the running app, HEAD and the explorer's
    files (Swagger UI's and Redoc's scripts, not the API) aside."""
    return [
        (r.method.lower(), r.resource.canonical, r.handler)
        for r in client.server.app.router.routes()
        if r.method != "HEAD"
        and r.resource is not None
        and not r.resource.canonical.startswith(ASSETS)
    ]


def refs(node):
    """Every $ref anywhere inside a JSON value."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def response_validator(doc, path, method, status):
    """A validator for one documented response, resolving refs inside the document."""
    schema = doc["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
    return Draft202012Validator({**schema["schema"], "components": doc["components"]})


async def test_document_is_openapi_3_1(client):
    """The document has the top-level shape OpenAPI 3.1 requires."""
    doc = await fetch_document(client)
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["paths"]
    assert all(path.startswith("/") for path in doc["paths"])
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


async def test_operations_are_well_formed(client):
    """Each operation has a summary and responses keyed by status, each described."""
    doc = await fetch_document(client)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert method in METHODS, (path, method)
            assert op["summary"], (path, method)
            assert op["responses"], (path, method)
            for code, response in op["responses"].items():
                assert re.fullmatch(r"[1-5]\d\d", code), (path, method, code)
                assert response["description"], (path, method, code)
            for param in op.get("parameters", []):
                assert param["in"] in ("path", "query", "header", "cookie")
                assert param["in"] != "path" or param["required"] is True


async def test_every_schema_is_valid_json_schema(client):
    """Every component and response schema is valid JSON Schema 2020-12."""
    doc = await fetch_document(client)
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    for ops in doc["paths"].values():
        for op in ops.values():
            for response in op["responses"].values():
                for media in response.get("content", {}).values():
                    Draft202012Validator.check_schema(media["schema"])


async def test_every_route_is_documented(client):
    """Every route the app serves appears in the document with its method."""
    doc = await fetch_document(client)
    missing = [
        f"{method.upper()} {path}"
        for method, path, _ in app_routes(client)
        if method not in doc["paths"].get(path, {})
    ]
    assert not missing, f"undocumented routes: {missing}"


async def test_nothing_documented_that_does_not_exist(client):
    """The document lists no operation the app does not serve."""
    doc = await fetch_document(client)
    served = {(method, path) for method, path, _ in app_routes(client)}
    documented = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert documented <= served


async def test_path_params_are_declared(client):
    """Every {param} in a path is declared as a required integer path parameter."""
    doc = await fetch_document(client)
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for method, op in ops.items():
            declared = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "path"}
            assert set(declared) == names, (method, path)
            for param in declared.values():
                assert param["required"] is True
                assert param["schema"]["type"] == "integer"


async def test_roles_and_security_match_the_handlers(client):
    """Routes that need a role declare bearer security and exactly those x-roles."""
    doc = await fetch_document(client)
    for method, path, handler in app_routes(client):
        spec = getattr(handler, "spec", None)
        op = doc["paths"][path][method]
        if spec is not None and spec.viewer:
            # Open to everyone; a token, when sent, says who is looking.
            assert op["security"] == [{}, {"bearer": []}], (method, path)
            assert "x-roles" not in op and "401" in op["responses"], (method, path)
        elif spec is None or spec.roles is None:
            assert "security" not in op and "x-roles" not in op, (method, path)
        else:
            assert op["security"] == [{"bearer": []}], (method, path)
            assert op["x-roles"] == sorted(spec.roles), (method, path)
            # A websocket refuses a bad token with close code 4401 after the upgrade.
            assert ("101" if spec.websocket else "401") in op["responses"], (method, path)


async def test_bodies_are_documented(client):
    """Routes that read a JSON body declare it and its 400, 413 and 422 answers."""
    doc = await fetch_document(client)
    for method, path, handler in app_routes(client):
        spec = getattr(handler, "spec", None)
        if spec is None or spec.body is None:
            continue
        op = doc["paths"][path][method]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{spec.body.__name__}"}
        assert {"400", "413", "422"} <= set(op["responses"]), (method, path)


async def test_every_ref_resolves(client):
    """Every $ref points at a schema that exists in components.schemas."""
    doc = await fetch_document(client)
    schemas = doc["components"]["schemas"]
    found = list(refs(doc))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


async def test_health_matches_its_schema(client):
    """GET / answers what the document says it answers."""
    doc = await fetch_document(client)
    reply = await call(client, "GET", "/")
    response_validator(doc, "/", "get", 200).validate(reply.body)


async def test_event_answers_match_their_schemas(admin):
    """Creating, listing and fetching events answer as documented."""
    doc = await fetch_document(admin.client)
    created = await admin.post("/api/v1/events", json=event_body())
    response_validator(doc, "/api/v1/events", "post", 201).validate(created.body)
    listed = await admin.get("/api/v1/events")
    assert listed.data
    response_validator(doc, "/api/v1/events", "get", 200).validate(listed.body)
    one = await admin.get(f"/api/v1/events/{created.data['id']}")
    response_validator(doc, "/api/v1/events/{event_id}", "get", 200).validate(one.body)


async def test_booking_answers_match_their_schemas(user, make_event):
    """Booking, listing and cancelling answer as documented."""
    doc = await fetch_document(user.client)
    event = await make_event(total_seats=3)
    booked = await user.post("/api/v1/bookings", json={"event_id": event["id"], "quantity": 2})
    response_validator(doc, "/api/v1/bookings", "post", 201).validate(booked.body)
    listed = await user.get("/api/v1/bookings")
    response_validator(doc, "/api/v1/bookings", "get", 200).validate(listed.body)
    cancelled = await user.delete(f"/api/v1/bookings/{booked.data['id']}")
    path = "/api/v1/bookings/{booking_id}"
    response_validator(doc, path, "delete", 200).validate(cancelled.body)


async def test_auth_answers_match_their_schemas(user):
    """Login and /auth/me answer as documented."""
    doc = await fetch_document(user.client)
    me = await user.get("/api/v1/auth/me")
    response_validator(doc, "/api/v1/auth/me", "get", 200).validate(me.body)
    login = await call(
        user.client,
        "POST",
        "/api/v1/auth/login",
        json={"username": user.username, "password": "correct horse battery"},
    )
    response_validator(doc, "/api/v1/auth/login", "post", 200).validate(login.body)


@pytest.mark.parametrize(
    ("method", "path", "documented", "status"),
    [
        ("GET", "/api/v1/events/abc", "/api/v1/events/{event_id}", 422),
        ("GET", "/api/v1/events/12345", "/api/v1/events/{event_id}", 404),
        ("GET", "/api/v1/auth/me", "/api/v1/auth/me", 401),
        ("POST", "/api/v1/events", "/api/v1/events", 401),
    ],
)
async def test_error_answers_are_documented(client, method, path, documented, status):
    """Error answers use a status the document lists, in the documented envelope."""
    doc = await fetch_document(client)
    reply = await call(client, method, path)
    assert reply.status == status
    response_validator(doc, documented, method.lower(), status).validate(reply.body)


async def test_wrong_answer_would_be_caught(client):
    """The response validation is not vacuous: a malformed event is rejected."""
    doc = await fetch_document(client)
    validator = response_validator(doc, "/api/v1/events/{event_id}", "get", 200)
    bad = {"code": 200, "message": "ok", "status": "success", "data": {"id": "one"}}
    assert not validator.is_valid(bad)


async def test_docs_page_lists_every_path(client):
    """GET /docs/plain is an HTML page, without JavaScript, naming every documented path."""
    doc = await fetch_document(client)
    async with client.get("/docs/plain") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        html = await resp.text()
    assert "<html" in html.lower()
    for path in doc["paths"]:
        assert path in html, path
