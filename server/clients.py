"""The client's address, for throttling and the audit log.

It is the connection's peer, unless that peer is a proxy named in ``trusted_proxies``:
then each trusted proxy's word (the last X-Forwarded-For entry, which it appended) is
taken for the hop before it, and the first hop that is not a trusted proxy is the client.
Anything a client wrote into X-Forwarded-For itself sits to the left and is never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from aiohttp import web

from .keys import CONFIG

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: web.Request) -> str:
    trusted = request.app[CONFIG].trusted_proxies
    peer = request.remote or ""
    if not trusted:
        return peer
    return behind_proxies(peer, request.headers.getall("X-Forwarded-For", []), trusted)


def behind_proxies(peer: str, forwarded: Iterable[str], trusted: Iterable[str]) -> str:
    networks = [ipaddress.ip_network(t, strict=False) for t in trusted]
    hops = [hop.strip() for header in forwarded for hop in header.split(",")]
    address = peer
    while _within(address, networks) and hops:
        hop = hops.pop()
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:  # not an address: the proxy's word cannot be read, so stop
            break
    return address


def _within(address: str, networks: list[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
