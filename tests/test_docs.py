"""The docs an integrator tries: the explorer (/docs), the reference (/redoc), the plain page,
their examples and Markdown, checked in a real headless Chromium where one is installed."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from browser import CHROMIUM, browser_page
from jsonschema import Draft202012Validator

V1 = "/api/v1"
EVENTS_GET = ".opblock-get:has(.opblock-summary-path[data-path='/api/v1/events'])"
ME_GET = ".opblock-get:has(.opblock-summary-path[data-path='/api/v1/auth/me'])"


async def document(client: Any) -> dict[str, Any]:
    async with client.get(f"{V1}/openapi.json") as resp:
        return await resp.json()


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in doc["paths"].items() for m, op in ops.items()]


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": doc["components"]})


async def test_every_operation_has_examples_that_fit_its_schemas(client):
    """Each body has an example request and each JSON answer an example, all valid."""
    doc = await document(client)
    for method, path, op in operations(doc):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert "example" in body, (method, path)
            validator(doc, body["schema"]).validate(body["example"])
        for code, response in op["responses"].items():
            media = response.get("content", {}).get("application/json")
            if media is not None:
                assert "example" in media, (method, path, code)
                validator(doc, media["schema"]).validate(media["example"])
                if isinstance(media["example"], dict) and "code" in media["example"]:
                    assert media["example"]["code"] == int(code)


async def test_the_example_requests_work(client, admin):
    """What "try it out" fills in is a request the server takes: an event, then a sale."""
    doc = await document(client)

    def example(path: str) -> dict[str, Any]:
        return doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["example"]

    event = await admin.post(f"{V1}/events", json=example(f"{V1}/events"))
    assert event.status == 201, event.body
    sale = example(f"{V1}/bookings") | {"event_id": event.data["id"]}
    booking = await admin.post(f"{V1}/bookings", json=sale)
    assert booking.status == 201, booking.body


async def test_descriptions_render_their_markdown(client):
    """The plain page turns the Markdown into HTML, and shows raw HTML as text."""
    async with client.get("/docs/plain") as resp:
        assert resp.status == 200
        page = await resp.text()
    assert "<h2>Paging</h2>" in page
    assert "<code>X-Total-Count</code>" in page
    assert "## Paging" not in page
    assert "<script>" not in page.split("</head>")[1]  # no script on the plain page


async def test_explorer_assets_are_served_from_the_package(client):
    """/docs and /redoc load their scripts and styles from this server, nothing else."""
    for page in ("/docs", "/redoc"):
        async with client.get(page) as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            html = await resp.text()
        sources = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert sources and not [s for s in sources if "//" in s], sources
        for asset in (s for s in sources if s.startswith("/docs/assets/")):
            async with client.get(asset) as resp:
                assert resp.status == 200, asset
                assert len(await resp.read()) > 100, asset


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")
async def test_explorer_tries_a_call_in_a_real_browser(client, admin, make_event):
    """In headless Chromium: /docs renders every operation with an Authorize button; "try
    it out" on GET /events shows 200 with the event; after Authorize, GET /auth/me is a
    200 too; /redoc renders the reference. Nothing is fetched from anywhere else."""
    event = await make_event(title="Swagger Night")
    base = str(client.make_url("")).rstrip("/")
    async with browser_page() as page:
        await page.goto(base + "/docs")
        count = await page.wait_for("document.querySelectorAll('.opblock').length")
        assert count == len(operations(await document(client)))
        assert await page.evaluate("!!document.querySelector('.btn.authorize')")

        status, body = await try_it(page, EVENTS_GET)
        assert status == "200"
        assert event["title"] in body

        await authorize(page, admin.token)
        status, body = await try_it(page, ME_GET)
        assert status == "200", body
        assert json.loads(body)["data"]["username"] == admin.username

        await page.goto(base + "/redoc")
        text = await page.wait_for(
            "document.body.innerText.includes('Request samples') && document.body.innerText"
        )
        assert "Paging" in text and "/api/v1/bookings" in text
        hosts = {url.split("/")[2] for url in page.requested if url.startswith("http")}
        assert hosts == {base.split("/")[2]}, page.requested


async def try_it(page: Any, operation: str) -> tuple[str, str]:
    """Open an operation, press "Try it out" then "Execute"; the status and body shown."""
    summary = f"{operation} .opblock-summary-control"
    await page.evaluate(f'document.querySelector("{summary}").click()')
    await page.wait_for(f'document.querySelector("{operation} .try-out__btn")')
    await page.evaluate(f'document.querySelector("{operation} .try-out__btn").click()')
    await page.wait_for(f'document.querySelector("{operation} .execute")')
    await page.evaluate(f'document.querySelector("{operation} .execute").click()')
    cell = f"{operation} .live-responses-table tbody .response-col_status"
    status = await page.wait_for(f'document.querySelector("{cell}")?.textContent.trim()')
    body = await page.evaluate(
        f'document.querySelector("{operation} .live-responses-table tbody '
        f'.response-col_description pre")?.textContent'
    )
    return status, body or ""


async def authorize(page: Any, token: str) -> None:
    """Authorize, as a person does: the button, the token typed in, Authorize, Close."""
    await page.evaluate("document.querySelector('.btn.authorize').click()")
    await page.wait_for("document.querySelector('.modal-ux input')")
    await page.evaluate(
        f"""(() => {{
            const input = document.querySelector('.modal-ux input');
            const set = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set;
            set.call(input, {json.dumps(token)});
            input.dispatchEvent(new Event('input', {{bubbles: true}}));
            document.querySelector('.modal-ux .modal-btn.authorize').click();
        }})()"""
    )
    done = ".modal-ux .btn-done, .modal-ux .close-modal"
    await page.wait_for("document.querySelector('.modal-ux').innerText.includes('Logout')")
    await page.evaluate(f"document.querySelector('{done}').click()")
