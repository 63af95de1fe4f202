"""Every URL of the server, in one table."""

from __future__ import annotations

from aiohttp import web
from openapi_ui_bundles import redoc, swagger_ui

from . import openapi
from .handlers import (
    audit,
    auth,
    bookings,
    checkins,
    events,
    live,
    meta,
    orders,
    reports,
    sales,
    seatmaps,
    ticket_types,
    tickets,
    tokens,
    users,
    venues,
    webhooks,
)
from .keys import CONFIG

V1 = "/api/v1"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", meta.health, name="health")
    r.add_get("/docs", meta.docs, name="docs")
    r.add_get("/docs/plain", meta.docs_plain, name="docs_plain")
    r.add_get("/redoc", meta.redoc, name="redoc")
    # Swagger UI's and Redoc's own files, shipped in the openapi-ui-bundles package.
    r.add_static(f"{openapi.ASSETS}/swagger-ui", swagger_ui.static_path, name="swagger_ui")
    r.add_static(f"{openapi.ASSETS}/redoc", redoc.static_path, name="redoc_assets")
    r.add_get(f"{V1}/openapi.json", meta.openapi_json, name="openapi")
    r.add_get("/healthz", meta.healthz, name="healthz")
    r.add_get("/readyz", meta.readyz, name="readyz")
    if app[CONFIG].metrics:  # BOXOFFICE_METRICS=false: no route, no counting
        r.add_get("/metrics", meta.metrics, name="metrics")

    r.add_post(f"{V1}/auth/register", auth.register, name="register")
    r.add_post(f"{V1}/auth/login", auth.login, name="login")
    r.add_post(f"{V1}/auth/refresh", auth.refresh, name="refresh")
    r.add_post(f"{V1}/auth/logout", auth.logout, name="logout")
    r.add_get(f"{V1}/auth/me", auth.me, name="me")

    r.add_get(f"{V1}/users", users.list_users, name="users")
    r.add_post(f"{V1}/users", users.create_user, name="create_user")
    r.add_patch(f"{V1}/users/{{user_id}}", users.update_user, name="update_user")
    r.add_delete(f"{V1}/users/{{user_id}}/sessions", users.end_sessions, name="end_sessions")
    r.add_delete(f"{V1}/users/{{user_id}}/lockout", users.unlock_user, name="unlock_user")

    # Fixed paths before "{event_id}" / "{booking_id}": the router matches in order.
    r.add_get(f"{V1}/events", events.list_events, name="events")
    r.add_post(f"{V1}/events", events.create_event, name="create_event")
    r.add_get(f"{V1}/events/available", events.list_available, name="available_events")
    r.add_get(f"{V1}/events/{{event_id}}", events.get_event, name="event")
    r.add_get(f"{V1}/events/{{event_id}}/seats", seatmaps.event_seats, name="event_seats")
    r.add_get(f"{V1}/events/{{event_id}}/sales", sales.event_sales, name="event_sales")
    r.add_put(f"{V1}/events/{{event_id}}", events.replace_event, name="replace_event")
    r.add_patch(f"{V1}/events/{{event_id}}", events.patch_event, name="patch_event")
    r.add_delete(f"{V1}/events/{{event_id}}", events.delete_event, name="delete_event")
    types = f"{V1}/events/{{event_id}}/ticket-types"
    r.add_get(types, ticket_types.list_types, name="ticket_types")
    r.add_post(types, ticket_types.create_type, name="create_ticket_type")
    r.add_patch(f"{types}/{{type_id}}", ticket_types.patch_type, name="patch_ticket_type")
    r.add_delete(f"{types}/{{type_id}}", ticket_types.delete_type, name="delete_ticket_type")

    r.add_get(f"{V1}/bookings", bookings.list_own, name="bookings")
    r.add_post(f"{V1}/bookings", bookings.create_booking, name="create_booking")
    r.add_get(f"{V1}/bookings/all", bookings.list_all, name="all_bookings")
    r.add_get(f"{V1}/bookings/event/{{event_id}}", bookings.list_for_event, name="event_bookings")
    r.add_get(f"{V1}/bookings/{{booking_id}}", bookings.get_booking, name="booking")
    r.add_delete(f"{V1}/bookings/{{booking_id}}", bookings.cancel_booking, name="cancel_booking")
    r.add_post(
        f"{V1}/bookings/{{booking_id}}/confirm", bookings.confirm_booking, name="confirm_booking"
    )
    r.add_get(f"{V1}/bookings/{{booking_id}}/ticket", tickets.ticket, name="ticket")

    r.add_post(f"{V1}/orders", orders.create_order, name="create_order")
    r.add_get(f"{V1}/orders/{{order_id}}", orders.get_order, name="order")
    r.add_post(f"{V1}/orders/{{order_id}}/returns", orders.return_tickets, name="return_tickets")
    r.add_post(f"{V1}/orders/{{order_id}}/prints", orders.record_print, name="record_print")

    r.add_get(f"{V1}/venues", venues.list_venues, name="venues")
    r.add_post(f"{V1}/venues", venues.create_venue, name="create_venue")
    r.add_get(f"{V1}/venues/{{venue_id}}", venues.get_venue, name="venue")
    r.add_get(f"{V1}/venues/{{venue_id}}/seats", venues.venue_seats, name="venue_seats")
    r.add_put(f"{V1}/venues/{{venue_id}}", venues.replace_venue, name="replace_venue")
    r.add_delete(f"{V1}/venues/{{venue_id}}", venues.delete_venue, name="delete_venue")

    r.add_post(f"{V1}/checkins", checkins.check_in, name="check_in")

    r.add_get(f"{V1}/reports/shift", reports.shift_report, name="shift_report")
    r.add_get(f"{V1}/reports/zones", sales.zone_seats, name="zone_seats")
    r.add_get(f"{V1}/reports/recent-sales", sales.recent_sales, name="recent_sales")

    r.add_get(f"{V1}/audit", audit.list_audit, name="audit")

    r.add_get(f"{V1}/tokens", tokens.list_tokens, name="tokens")
    r.add_post(f"{V1}/tokens", tokens.issue_token, name="issue_token")
    r.add_delete(f"{V1}/tokens/{{token_id}}", tokens.revoke_token, name="revoke_token")

    hooks = f"{V1}/webhooks"
    r.add_get(hooks, webhooks.list_webhooks, name="webhooks")
    r.add_post(hooks, webhooks.create_webhook, name="create_webhook")
    r.add_get(f"{hooks}/{{webhook_id}}", webhooks.get_webhook, name="webhook")
    r.add_patch(f"{hooks}/{{webhook_id}}", webhooks.patch_webhook, name="patch_webhook")
    r.add_delete(f"{hooks}/{{webhook_id}}", webhooks.delete_webhook, name="delete_webhook")
    deliveries = f"{hooks}/{{webhook_id}}/deliveries"
    r.add_get(deliveries, webhooks.list_deliveries, name="webhook_deliveries")
    r.add_post(
        f"{deliveries}/{{delivery_id}}/redeliver", webhooks.redeliver, name="redeliver_webhook"
    )

    r.add_get(f"{V1}/ws", live.websocket, name="ws")
