"""Brute-force protection for sign-in and registration, per account and per client address."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from adanalysis.config import Settings
from adanalysis.ratelimit.address import client_address, parse_networks
from adanalysis.ratelimit.limiter import Limiter, RateLimitedError


@dataclass(frozen=True)
class _Limit:
    key: str
    max_count: int


@dataclass(frozen=True)
class SignInAttempt:
    """The counters one sign-in attempt was counted in; give it back on success."""

    pair: str
    others: tuple[str, ...]


class AuthThrottle:
    """Counts sign-in failures and registrations against the settings' limits.

    Sign-in: a failure counts for the account from this address, for the account from
    everywhere, and for this address across accounts. The tightest limit is per account *and*
    address, so someone guessing from elsewhere cannot lock the owner out; every window is
    short and starts over once it ends. An attempt is counted before the password is checked
    (concurrent guesses cannot slip past the limit) and given back when it succeeds.
    """

    def __init__(self, limiter: Limiter, settings: Settings) -> None:
        self.limiter = limiter
        self.window = settings.auth_window_seconds
        self.settings = settings
        self.trusted_proxies = parse_networks(settings.trusted_proxies)

    def address_of(self, connection: HTTPConnection) -> str:
        """The client address attempts are counted against."""
        return client_address(connection, self.trusted_proxies)

    async def start_sign_in(self, *, email: str, address: str) -> SignInAttempt:
        """Count a sign-in attempt; RateLimitedError when a limit is reached."""
        s = self.settings
        account = _normalise(email)
        pair = _Limit(
            _key("login:account+address", account, _bucket(address)), s.login_max_failures
        )
        limits = [
            pair,
            _Limit(_key("login:account", account), s.login_max_failures_per_account),
            _Limit(_key("login:address", _bucket(address)), s.login_max_failures_per_address),
        ]
        await self._count(limits, "Too many sign-in attempts")
        return SignInAttempt(pair=pair.key, others=tuple(limit.key for limit in limits[1:]))

    async def signed_in(self, attempt: SignInAttempt) -> None:
        """The password was right: it was no failure, and earlier typos from here are forgiven."""
        await self.limiter.reset(attempt.pair)
        for key in attempt.others:
            await self.limiter.undo(key)

    async def start_registration(self, *, email: str, address: str) -> None:
        """Count a registration attempt; RateLimitedError when a limit is reached."""
        s = self.settings
        await self._count(
            [
                _Limit(_key("register:address", _bucket(address)), s.registrations_per_address),
                _Limit(_key("register:email", _normalise(email)), s.registrations_per_email),
            ],
            "Too many registration attempts",
        )

    async def _count(self, limits: list[_Limit], what: str) -> None:
        """Hit each counter in turn; on the first one over its limit, take back this attempt."""
        counted: list[str] = []
        for limit in limits:
            hit = await self.limiter.hit(limit.key, window_seconds=self.window)
            counted.append(limit.key)
            if hit.count > limit.max_count:
                # A refused attempt counts nowhere: hammering a locked pair must not add up to
                # a lock of the whole account or address.
                for key in counted:
                    await self.limiter.undo(key)
                wait = max(1, math.ceil(hit.retry_after))
                raise RateLimitedError(
                    f"{what}. Wait {_seconds(wait)} and try again.", retry_after=wait
                )


def _seconds(n: int) -> str:
    return "1 second" if n == 1 else f"{n} seconds"


def _normalise(email: str) -> str:
    return email.strip().lower()


def _bucket(address: str) -> str:
    """IPv6 clients are counted per /64 (one host can use a whole /64); IPv4 per address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _key(kind: str, *parts: str) -> str:
    """A fixed-length key: the counted values are hashed, never stored as sent."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{digest[:40]}"
