"""Lists say how many there are in all (X-Total-Count) and link the next and previous
pages (Link), without changing the data array; GET /events keeps them with its body in the
browse cache, so a cached answer says the same."""

from __future__ import annotations

import re
from typing import Any

from support import event_body

V1 = "/api/v1"


def links(headers: Any) -> dict[str, str]:
    """rel -> URL of a Link header."""
    found = re.findall(r'<([^>]+)>;\s*rel="(\w+)"', headers.get("Link", ""))
    return {rel: url for url, rel in found}


async def test_events_pages_say_the_total_and_link_each_other(client, admin):
    for n in range(5):
        reply = await admin.post(f"{V1}/events", json=event_body(title=f"Night {n}"))
        assert reply.status == 201
    first = await admin.get(f"{V1}/events?limit=2&q=Night")
    assert first.status == 200
    assert len(first.data) == 2 and isinstance(first.data, list)  # the seed's array
    assert first.headers["X-Total-Count"] == "5"
    assert links(first.headers) == {"next": f"{V1}/events?q=Night&skip=2&limit=2"}

    seen = [e["id"] for e in first.data]
    url = links(first.headers)["next"]
    while url:
        page = await admin.get(url)
        assert page.headers["X-Total-Count"] == "5"
        assert "prev" in links(page.headers)
        seen += [e["id"] for e in page.data]
        url = links(page.headers).get("next")
    assert len(seen) == len(set(seen)) == 5

    again = await admin.get(f"{V1}/events?q=Night&limit=2")  # cached: the same headers
    assert again.headers["X-Total-Count"] == "5"
    assert links(again.headers) == links(first.headers)

    await admin.post(f"{V1}/events", json=event_body(title="Night 6"))
    after = await admin.get(f"{V1}/events?limit=2&q=Night")
    assert after.headers["X-Total-Count"] == "6"
    assert after.headers["ETag"] != first.headers["ETag"]


async def test_a_page_past_the_end_still_says_the_total(client, admin):
    await admin.post(f"{V1}/events", json=event_body())
    reply = await admin.get(f"{V1}/events?skip=10&limit=5")
    assert reply.status == 200 and reply.data == []
    assert reply.headers["X-Total-Count"] == "1"
    assert links(reply.headers) == {"prev": f"{V1}/events?skip=0&limit=5"}


async def test_bookings_users_tokens_and_audit_are_paged(client, admin, clerk, make_event):
    event = await make_event(total_seats=50)
    for _ in range(3):
        sale = {"event_id": event["id"], "quantity": 1, "customer_name": "Walk-in"}
        assert (await clerk.post(f"{V1}/bookings", json=sale)).status == 201
    for path, total in (
        (f"{V1}/bookings/all?limit=1", 3),
        (f"{V1}/bookings/event/{event['id']}?limit=1", 3),
        (f"{V1}/users?limit=1", 2),
        (f"{V1}/tokens?limit=1", 0),
    ):
        reply = await admin.get(path)
        assert reply.status == 200, (path, reply.body)
        assert reply.headers["X-Total-Count"] == str(total), path
        assert ("next" in links(reply.headers)) == (total > 1), path
    own = await clerk.get(f"{V1}/bookings?limit=2")
    assert own.headers["X-Total-Count"] == "3" and len(own.data) == 2
    audit = await admin.get(f"{V1}/audit?action=booking&limit=2")
    assert int(audit.headers["X-Total-Count"]) >= 3 and len(audit.data) == 2
