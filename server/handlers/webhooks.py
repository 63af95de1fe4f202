"""/api/v1/webhooks: admins register endpoints, see their deliveries and redeliver."""

from __future__ import annotations

from aiohttp import web

from common.models import (
    CreatedWebhook,
    DeliveryQuery,
    PageQuery,
    Webhook,
    WebhookCreate,
    WebhookDelivery,
    WebhookPatch,
)

from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..idempotency import KEEP_AS
from ..keys import WEBHOOKS
from ..security import Principal


@endpoint(
    summary="Register a webhook endpoint",
    tag="webhooks",
    roles=ADMIN,
    body=WebhookCreate,
    response=CreatedWebhook,
    status=201,
    errors=(422,),
    description=(
        "Boxoffice POSTs each change of the given types to the URL, signed with the secret "
        "in this answer (shown only this once), and a 'ping' right away. See docs/webhooks.md "
        "for the payloads, the headers and how to verify the signature."
    ),
)
async def create_webhook(
    request: web.Request, *, user: Principal, body: WebhookCreate
) -> web.Response:
    row, secret = await request.app[WEBHOOKS].create(user, body)
    created = CreatedWebhook.model_validate({**row, "secret": secret})
    response = ok(created, code=201, message="Webhook registered: keep its secret now")
    # What an Idempotency-Key keeps (and a retry gets): never the secret.
    response[KEEP_AS] = ok(
        created.model_copy(update={"secret": None}),
        code=201,
        message="Webhook already registered for this Idempotency-Key; its secret was shown once",
    ).text
    return response


@endpoint(
    summary="List webhook endpoints (never their secrets)",
    tag="webhooks",
    roles=ADMIN,
    query=PageQuery,
    response=list[Webhook],
)
async def list_webhooks(request: web.Request, *, user: Principal, query: PageQuery) -> web.Response:
    rows = await request.app[WEBHOOKS].list(query.skip, query.limit)
    return ok([Webhook.model_validate(r) for r in rows])


@endpoint(
    summary="A webhook endpoint",
    tag="webhooks",
    roles=ADMIN,
    response=Webhook,
    errors=(404, 422),
)
async def get_webhook(request: web.Request, *, user: Principal) -> web.Response:
    row = await request.app[WEBHOOKS].get(path_id(request, "webhook_id"))
    return ok(Webhook.model_validate(row))


@endpoint(
    summary="Change a webhook endpoint: URL, types, description, pause or resume",
    tag="webhooks",
    roles=ADMIN,
    body=WebhookPatch,
    response=Webhook,
    errors=(404, 422),
    description=(
        "status 'paused' keeps queueing its deliveries without sending them; 'active' "
        "resumes sending, a disabled endpoint's too (its failures are forgotten)."
    ),
)
async def patch_webhook(
    request: web.Request, *, user: Principal, body: WebhookPatch
) -> web.Response:
    row = await request.app[WEBHOOKS].update(user, path_id(request, "webhook_id"), body)
    return ok(Webhook.model_validate(row), message="Webhook updated")


@endpoint(
    summary="Delete a webhook endpoint and its deliveries",
    tag="webhooks",
    roles=ADMIN,
    errors=(404, 422),
)
async def delete_webhook(request: web.Request, *, user: Principal) -> web.Response:
    await request.app[WEBHOOKS].delete(user, path_id(request, "webhook_id"))
    return ok(None, message="Webhook deleted")


@endpoint(
    summary="A webhook endpoint's deliveries, newest first",
    tag="webhooks",
    roles=ADMIN,
    query=DeliveryQuery,
    response=list[WebhookDelivery],
    errors=(404, 422),
)
async def list_deliveries(
    request: web.Request, *, user: Principal, query: DeliveryQuery
) -> web.Response:
    rows = await request.app[WEBHOOKS].deliveries(path_id(request, "webhook_id"), query)
    return ok([WebhookDelivery.model_validate(r) for r in rows])


@endpoint(
    summary="Send a delivery again",
    tag="webhooks",
    roles=ADMIN,
    response=WebhookDelivery,
    errors=(404, 422),
    description=(
        "Now, with the same delivery id (a receiver that already has it drops it) and a "
        "fresh retry window; on a paused or disabled endpoint, once it is resumed."
    ),
)
async def redeliver(request: web.Request, *, user: Principal) -> web.Response:
    row = await request.app[WEBHOOKS].redeliver(
        path_id(request, "webhook_id"), path_id(request, "delivery_id")
    )
    return ok(WebhookDelivery.model_validate(row), message="Delivery queued again")
