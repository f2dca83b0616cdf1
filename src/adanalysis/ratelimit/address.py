"""The client's address: the peer, or what trusted reverse proxies say in X-Forwarded-For."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """Networks from addresses or CIDR strings."""
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


def client_address(connection: HTTPConnection, trusted: Sequence[Network]) -> str:
    """The address to count attempts against.

    X-Forwarded-For is read only when the peer is a trusted proxy, right to left: each hop a
    trusted proxy appended is believed, and the first untrusted hop is the client. Anything a
    client writes into the header itself sits further left and is never reached.
    """
    peer = _parse(connection.client.host if connection.client else "")
    if peer is None:
        return UNKNOWN
    if not _is_trusted(peer, trusted):
        return str(peer)
    hops = [
        hop.strip()
        for header in connection.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
    ]
    current = peer
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # a malformed hop: keep the last address a trusted proxy vouched for
        current = address
        if not _is_trusted(address, trusted):
            break
    return str(current)


def _parse(value: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def _is_trusted(address: IPAddress, trusted: Sequence[Network]) -> bool:
    return any(address in network for network in trusted)
