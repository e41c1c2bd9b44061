"""The client's address, as the login throttle and the logs see it.

The socket peer, unless that peer is a configured trusted proxy (``SEALWATCH_TRUSTED_PROXIES``);
then X-Forwarded-For is read from the right, each trusted proxy having appended the address it
saw, and the first address that is not a trusted proxy is the client. Everything left of it came
from the client and is ignored: a client cannot pick the address it is throttled as.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address

from fastapi import Request

UNKNOWN = "unknown"


def _trusted(address: str, proxies: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(request: Request, proxies: Sequence[IPv4Network | IPv6Network]) -> str:
    peer = request.client.host if request.client else None
    if not peer:
        return UNKNOWN
    if not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    client = peer
    for hop in reversed(hops):
        try:
            client = str(ip_address(hop))
        except ValueError:
            break  # not an address: written by the client, not by a proxy; the last good hop stands
        if not _trusted(client, proxies):
            break
    return client
