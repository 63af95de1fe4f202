"""/api/v1/audit: admins browse the record of every state change."""

from __future__ import annotations

from aiohttp import web

from common.models import AuditQuery, AuditRecord

from .. import paging
from ..api import ADMIN, endpoint
from ..keys import AUDIT
from ..security import Principal


@endpoint(
    summary="The audit log, newest first",
    tag="audit",
    roles=ADMIN,
    query=AuditQuery,
    response=list[AuditRecord],
    description=(
        "Every state change: who (actor, actor_id), when (at), from where (source: the "
        "client's address), what (action, details) and on what (event_id, booking_id, "
        "user_id). Filters are optional and combine: event_id, booking_id, actor_id (made by "
        "the account), user_id (about the account or made by it), action (booking.cancel, "
        "or booking for every booking action). Page with skip and limit."
    ),
)
async def list_audit(request: web.Request, *, user: Principal, query: AuditQuery) -> web.Response:
    return await paging.listed(request, query, request.app[AUDIT].browse, AuditRecord)
