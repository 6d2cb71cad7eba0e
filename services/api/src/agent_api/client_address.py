"""The caller's address, for the login throttle: the TCP peer, unless that peer is one of the
``[api] trusted_proxies`` (none by default), in which case ``X-Forwarded-For`` is read from the
right, skipping trusted proxies, and the first address no trusted proxy vouches for is the caller.

Without a configured proxy the header is ignored: anyone can send it, so honouring it would let an
attacker pick a fresh address for every guess, or spend a victim's budget by naming theirs. The
server itself must not rewrite the peer either (uvicorn runs with ``proxy_headers`` off).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``192.0.2.7``, ``::1``...; ValueError names an entry that is neither."""
    networks: list[Network] = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network (e.g. 10.0.0.0/8 or 192.0.2.7)"
            ) from None
    return tuple(networks)


@functools.lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """:func:`parse_networks`, once per distinct setting."""
    return parse_networks(entries)


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def client_address(request: Request, proxies: Sequence[Network]) -> str:
    peer = request.client.host if request.client else UNKNOWN
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop, proxies):
            return hop
    return peer
