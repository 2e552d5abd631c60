"""Where a source may connect: its allow-list of hosts, and no private addresses.

A scraper follows URLs it did not write (next links, redirects, detail
links), so each request's host is checked against the source's
`allowed_hosts`, and the addresses it resolves to must be public unless the
source opts in with `allow_private_networks: true` (server-side request
forgery: a feed must not be able to point us at 169.254.169.254 or an
internal admin page).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedRequest(Exception):
    """A request refused before it was sent (host not allowed, private address)."""


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Exact host, or `*.example.com` for any subdomain (not example.com itself)."""
    host = host.lower().rstrip(".").removeprefix("[").removesuffix("]")
    for pattern in allowed:
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def is_public(addr: IPAddress) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped  # ::ffff:127.0.0.1 is loopback, whatever its spelling
    # is_global also rules out shared (100.64/10), documentation and
    # benchmarking ranges, which is_private alone lets through.
    return addr.is_global and not (addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved
                                   or addr.is_multicast or addr.is_unspecified)


@dataclass
class _Cached:
    expires: float
    addrs: list[IPAddress]


class AddressGuard:
    """Resolves hosts (cached for `ttl` seconds) and refuses non-public ones."""

    def __init__(self, source: str, allow_private: bool, ttl: float = 60.0) -> None:
        self.source = source
        self.allow_private = allow_private
        self.ttl = ttl
        self._cache: dict[tuple[str, int], _Cached] = {}

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of `host`; raises BlockedRequest if any is not public."""
        bare = host.removeprefix("[").removesuffix("]")
        try:
            addrs = [ipaddress.ip_address(bare)]
        except ValueError:
            addrs = await self._lookup(bare, port)
        if not self.allow_private:
            # All, not any: a name with one public and one private address
            # could be connected to either.
            bad = [a for a in addrs if not is_public(a)]
            if bad:
                raise BlockedRequest(
                    f"source {self.source}: {host} resolves to non-public address {bad[0]} "
                    f"(private, loopback, link-local, reserved or multicast); "
                    f"set allow_private_networks: true to allow it")
        return addrs

    async def _lookup(self, host: str, port: int) -> list[IPAddress]:
        key = (host, port)
        hit = self._cache.get(key)
        if hit and hit.expires > time.monotonic():
            return hit.addrs
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise OSError(f"cannot resolve {host}: {e}") from None
        addrs = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
        self._cache[key] = _Cached(time.monotonic() + self.ttl, addrs)
        return addrs
