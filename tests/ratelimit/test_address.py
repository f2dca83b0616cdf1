"""Which address a request is counted against; X-Forwarded-For only through trusted proxies."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from adanalysis.ratelimit.address import UNKNOWN, client_address, parse_networks


def _request(peer: str | None, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": headers,
        "client": (peer, 1234) if peer else None,
    }
    return Request(scope)


PROXIES = parse_networks(["10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No trusted peer: the header is the client's own word and is ignored.
        ("203.0.113.7", ["198.51.100.1"], "203.0.113.7"),
        # One trusted proxy: the hop it appended is the client.
        ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
        # A client forging the header: the proxy appends the real address at the right.
        ("10.0.0.2", ["1.2.3.4, 198.51.100.1"], "198.51.100.1"),
        # Two proxies in a chain, headers split over two lines.
        ("10.0.0.2", ["1.2.3.4, 198.51.100.1", "10.0.0.9"], "198.51.100.1"),
        # Garbage after trusted hops: keep the last address a proxy vouched for.
        ("10.0.0.2", ["not-an-ip, 10.0.0.9"], "10.0.0.9"),
        # Every hop trusted: the leftmost.
        ("10.0.0.2", ["10.0.0.5, 10.0.0.9"], "10.0.0.5"),
        # Trusted peer, no header.
        ("10.0.0.2", [], "10.0.0.2"),
        # IPv6, normalised.
        ("::1", ["2001:DB8::0:1"], "2001:db8::1"),
        # A peer that is no IP address (a test client's name).
        ("testclient", ["198.51.100.1"], UNKNOWN),
        (None, [], UNKNOWN),
    ],
)
def test_client_address(peer: str | None, forwarded: list[str], expected: str) -> None:
    assert client_address(_request(peer, *forwarded), PROXIES) == expected


def test_nothing_is_trusted_by_default() -> None:
    assert client_address(_request("127.0.0.1", "198.51.100.1"), []) == "127.0.0.1"
