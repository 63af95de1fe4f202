"""/api/v1/users: admins create clerk and admin accounts."""

from __future__ import annotations

from aiohttp import web

from common.models import PageQuery, Unlocked, User, UserCreate

from .. import queries as q
from ..api import ADMIN, endpoint, path_id
from ..envelope import ok
from ..keys import AUTH, DB
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
    rows = await request.app[DB].fetchall(q.LIST_USERS, skip=query.skip, limit=query.limit)
    return ok([User.model_validate(r) for r in rows])


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
