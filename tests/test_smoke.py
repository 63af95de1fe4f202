"""The server starts, migrates, and answers the reference health check."""

from support import call


async def test_health_check(client):
    reply = await call(client, "GET", "/")
    assert reply.status == 200
    assert reply.data == {"name": "Boxoffice", "version": "0.1.0", "status": "healthy"}


async def test_clerk_books_and_cancels_for_a_walk_in(clerk, make_event):
    event = await make_event(total_seats=5)
    booked = await clerk.post(
        "/api/v1/bookings", json={"event_id": event["id"], "quantity": 2, "customer_name": "Ann"}
    )
    assert booked.status == 201
    assert booked.data["available_seats"] == 3
    cancelled = await clerk.delete(f"/api/v1/bookings/{booked.data['id']}")
    assert cancelled.status == 200
    assert cancelled.data["available_seats"] == 5
