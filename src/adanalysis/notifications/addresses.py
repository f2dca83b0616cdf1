"""Where a webhook may be sent: public addresses only, unless the deployment allows private ones."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

PRIVATE_ADDRESS = (
    "The webhook's address is private or local (loopback, private network, link-local); "
    "only public addresses can receive webhooks. Use a public URL."
)


async def refused_reason(url: str) -> str | None:
    """Why url must not be called (None: it may be), from every address its host resolves to.

    A user's webhook is a request this server makes for them: without this check it could
    reach the database, the broker or a cloud metadata service on the server's network.
    """
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "The webhook URL has no host."
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None  # unresolvable: the delivery fails and is logged like any connection error
    for *_rest, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not address.is_global:
            return PRIVATE_ADDRESS
    return None
