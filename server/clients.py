"""The client's address, for throttling, the audit log and every log line of a request.

It is the connection's peer, unless that peer is a proxy named in ``trusted_proxies``:
then each trusted proxy's word (the last X-Forwarded-For entry, which it appended) is
taken for the hop before it, and the first hop that is not a trusted proxy is the client.
Anything a client wrote into X-Forwarded-For itself sits to the left and is never read.

``proxies_middleware`` (installed by ``create_app`` only when there are trusted proxies)
works the address out once per request and keeps it under ``CLIENT_ADDRESS``; everything
else reads it with ``client_address``. This module imports nothing of the application, so
the error middleware and the logs can use it without an import cycle.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

CLIENT_ADDRESS = web.RequestKey("client_address", str)


def client_address(request: web.Request) -> str:
    """The address ``proxies_middleware`` found, else (no trusted proxies) the peer's."""
    return request.get(CLIENT_ADDRESS) or request.remote or ""


def proxies_middleware(trusted: Iterable[str]) -> Middleware:
    """Keeps the client's address behind the ``trusted`` proxies on each request."""
    proxies = networks(trusted)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        forwarded = request.headers.getall("X-Forwarded-For", [])
        request[CLIENT_ADDRESS] = behind_proxies(request.remote or "", forwarded, proxies)
        return await handler(request)

    return middleware


def networks(trusted: Iterable[str]) -> list[Network]:
    """Addresses and networks as written in BOXOFFICE_TRUSTED_PROXIES (checked by Config)."""
    return [ipaddress.ip_network(t.strip(), strict=False) for t in trusted]


def behind_proxies(peer: str, forwarded: Iterable[str], proxies: Sequence[Network]) -> str:
    """The client: ``peer``, or while it is one of ``proxies``, the hop it names."""
    hops = [hop.strip() for header in forwarded for hop in header.split(",")]
    address = peer
    while _within(address, proxies) and hops:
        hop = hops.pop()
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:  # not an address: the proxy's word cannot be read, so stop
            break
    return address


def _within(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in proxies)
