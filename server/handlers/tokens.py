"""/api/v1/tokens: admins issue, list and revoke integration API tokens."""

from __future__ import annotations

from aiohttp import web

from common.models import ApiToken, IssuedToken, PageQuery, TokenCreate

from .. import paging
from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..idempotency import KEEP_AS
from ..keys import API_TOKENS
from ..security import Principal


@endpoint(
    summary="Issue an integration API token",
    tag="tokens",
    roles=ADMIN,
    body=TokenCreate,
    response=IssuedToken,
    status=201,
    errors=(409, 422),
    description=(
        "A long-lived token for a third party, acting as an account of its own (made now) "
        "with the given role: its bookings are that account's. The token is in the answer "
        "only this once; only its hash is kept. Send it as 'Authorization: Bearer <token>'. "
        "A retry with the same Idempotency-Key issues nothing and answers the same token "
        "without its secret (token: null)."
    ),
)
async def issue_token(request: web.Request, *, user: Principal, body: TokenCreate) -> web.Response:
    row, token = await request.app[API_TOKENS].issue(user, body.name, body.role)
    issued = IssuedToken.model_validate({**row, "token": token})
    response = ok(issued, code=201, message="Token issued: keep it now, it is not shown again")
    # What an Idempotency-Key keeps (and a retry gets): the token, never its secret.
    response[KEEP_AS] = ok(
        issued.model_copy(update={"token": None}),
        code=201,
        message="Token already issued for this Idempotency-Key; its secret was shown only once",
    ).text
    return response


@endpoint(
    summary="List integration API tokens (never their secrets)",
    tag="tokens",
    roles=ADMIN,
    query=PageQuery,
    response=list[ApiToken],
)
async def list_tokens(request: web.Request, *, user: Principal, query: PageQuery) -> web.Response:
    tokens = request.app[API_TOKENS]
    return await paging.listed(request, query, lambda q: tokens.list(q.skip, q.limit), ApiToken)


@endpoint(
    summary="Revoke an integration API token",
    tag="tokens",
    roles=ADMIN,
    response=ApiToken,
    errors=(404, 409, 422),
    description=(
        "The token stops working at once on this server instance and within "
        "api_token_cache_seconds (5 s by default) on the others. Revoking twice is a 409."
    ),
)
async def revoke_token(request: web.Request, *, user: Principal) -> web.Response:
    row = await request.app[API_TOKENS].revoke(user, path_id(request, "token_id"))
    return ok(ApiToken.model_validate(row), message="Token revoked")
