"""/api/v1/users: admins create, list and control accounts (see server/accounts.py)."""

from __future__ import annotations

from aiohttp import web

from common.models import PageQuery, SessionsEnded, Unlocked, User, UserCreate, UserPatch

from .. import paging
from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..keys import ACCOUNTS, AUTH
from ..security import Principal


@endpoint(
    summary="Create an account with any role",
    tag="users",
    roles=ADMIN,
    body=UserCreate,
    response=User,
    status=201,
    errors=(409, 422),
)
async def create_user(request: web.Request, *, user: Principal, body: UserCreate) -> web.Response:
    row = await request.app[AUTH].create_user(body.username, body.password, body.role, by=user)
    return ok(User.model_validate(row), code=201, message="Account created")


@endpoint(summary="List accounts", tag="users", roles=ADMIN, query=PageQuery, response=list[User])
async def list_users(request: web.Request, *, user: Principal, query: PageQuery) -> web.Response:
    accounts = request.app[ACCOUNTS]
    return await paging.listed(request, query, lambda q: accounts.list(q.skip, q.limit), User)


@endpoint(
    summary="Disable or enable an account, or change its role",
    tag="users",
    roles=ADMIN,
    body=UserPatch,
    response=User,
    errors=(404, 409, 422),
    description=(
        "Only the fields given change, each recorded in the audit log (user.disable, "
        "user.enable, user.role). Disabling ends the account's sessions: it cannot log in "
        "or refresh, and its access tokens get 401 at once on this server instance and "
        "within milliseconds on the others (they hear of it); so do the tokens of an "
        "account whose role changed, until they are refreshed. An API token is an "
        "account of its own: disabling the admin who issued one leaves it working (revoke "
        "it at /tokens), and its account cannot be changed here. 409 for disabling or "
        "demoting yourself, for leaving no enabled admin, and for an API token's account."
    ),
)
async def update_user(request: web.Request, *, user: Principal, body: UserPatch) -> web.Response:
    row = await request.app[ACCOUNTS].update(
        user, path_id(request, "user_id"), disabled=body.disabled, role=body.role
    )
    return ok(User.model_validate(row), message="Account updated")


@endpoint(
    summary="End every session of an account",
    tag="users",
    roles=ADMIN,
    response=SessionsEnded,
    errors=(404, 422),
    description=(
        "Its refresh tokens stop working, and so do the access tokens issued so far (at "
        "once on this server instance, within milliseconds on the others). The account "
        "may log in again. Recorded as user.sessions_end."
    ),
)
async def end_sessions(request: web.Request, *, user: Principal) -> web.Response:
    row = await request.app[ACCOUNTS].end_sessions(user, path_id(request, "user_id"))
    return ok(SessionsEnded.model_validate(row), message="Sessions ended")


@endpoint(
    summary="Clear an account's failed-login locks",
    tag="users",
    roles=ADMIN,
    response=Unlocked,
    errors=(404, 422),
    description="Forgets every failed login of the account's name, from every address "
    "(audited as user.unlock). A lock on a client address, across names, stays.",
)
async def unlock_user(request: web.Request, *, user: Principal) -> web.Response:
    row = await request.app[AUTH].unlock(user, path_id(request, "user_id"))
    return ok(Unlocked.model_validate(row), message="Account unlocked")
