"""/api/v1/auth: register, login, refresh, logout, me."""

from __future__ import annotations

from aiohttp import web

from common.models import LoginRequest, RefreshRequest, RegisterRequest, TokenPair, User

from ..api import ANY_ROLE, endpoint
from ..clients import client_address
from ..envelope import ok
from ..keys import AUTH
from ..security import Principal


@endpoint(
    summary="Create an account (role user)",
    tag="auth",
    body=RegisterRequest,
    response=User,
    status=201,
    errors=(409, 422, 429, 503),
    description="Registrations from one client address are limited per hour (429 with "
    "Retry-After); some names are reserved (422). 503 with Retry-After: too busy, retry.",
)
async def register(request: web.Request, *, body: RegisterRequest) -> web.Response:
    row = await request.app[AUTH].register(body.username, body.password, client_address(request))
    return ok(User.model_validate(row), code=201, message="Account created")


@endpoint(
    summary="Log in and receive an access and a refresh token",
    tag="auth",
    body=LoginRequest,
    response=TokenPair,
    errors=(401, 403, 422, 429, 503),
    description=(
        "Repeated failures for one username from one client address lock that pair for a "
        "while, as do many failures from one address or for one username from everywhere "
        "(429 with Retry-After; an admin can unlock an account). A disabled account's "
        "correct password gets 403. 503 with Retry-After: too busy, retry."
    ),
)
async def login(request: web.Request, *, body: LoginRequest) -> web.Response:
    pair = await request.app[AUTH].login(body.username, body.password, client_address(request))
    return ok(pair, message="Logged in")


@endpoint(
    summary="Exchange a refresh token for a new pair (the old one stops working)",
    tag="auth",
    body=RefreshRequest,
    response=TokenPair,
    errors=(401, 422),
    description=(
        "Presenting a refresh token that was already rotated revokes its session. A session "
        "ends session_max_age (30 days) after its login however often it is refreshed."
    ),
)
async def refresh(request: web.Request, *, body: RefreshRequest) -> web.Response:
    return ok(await request.app[AUTH].refresh(body.refresh_token), message="Token refreshed")


@endpoint(
    summary="End the session of a refresh token",
    tag="auth",
    body=RefreshRequest,
    errors=(401, 422),
)
async def logout(request: web.Request, *, body: RefreshRequest) -> web.Response:
    await request.app[AUTH].logout(body.refresh_token)
    return ok(message="Logged out")


@endpoint(summary="The logged-in account", tag="auth", roles=ANY_ROLE, response=User)
async def me(request: web.Request, *, user: Principal) -> web.Response:
    return ok(User.model_validate(await request.app[AUTH].get_user(user.user_id)))
