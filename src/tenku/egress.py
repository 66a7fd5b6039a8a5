"""Where Tenku itself may connect on a user's behalf, and which local files it may read.

Source URLs, buildpack URLs, log drains and partner add-on URLs are fetched or reached by
the platform, from inside its own network. By default none of them may lead to a
loopback, link-local, private, shared, multicast or otherwise reserved address, so they
cannot be aimed at the platform's own services or at its neighbours. The check is made on
the address actually connected to, after name resolution, for every connection a redirect
opens too. Operators who need such targets list them in TENKU_ALLOW_PRIVATE_TARGETS
(addresses, CIDRs or host names). Refusals say only that: never what the target answered.

`file://` sources and local buildpack paths are read only under the directories the
operator lists in TENKU_LOCAL_SOURCE_DIRS, and a path outside them gets the same answer
whether it exists or not.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpcore
import httpx

from tenku.config import Settings

REFUSED = "refused by the egress policy"
LOCAL_REFUSED = "is not under a directory this platform reads sources and buildpacks from"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class EgressRefused(Exception):
    def __init__(self) -> None:
        super().__init__(REFUSED)


class LocalPathRefused(Exception):
    def __init__(self, shown: str) -> None:
        super().__init__(f"{shown} {LOCAL_REFUSED}")


# IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it through a
# translator (NAT64) or the host itself (IPv4-compatible): judged by that IPv4 address.
_EMBEDDING = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96"))


def _embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in network for network in _EMBEDDING):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded(address)
        if inner is not None:
            return _public(inner)
    return address.is_global and not address.is_multicast and not reserved(address)


# What `_public` refuses, as networks a packet filter can hold (the dynos' rule, see
# runtime/netfilter.py): never public, whatever Python's own tables say.
RESERVED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)


def _carrying(prefix: str, offset: int) -> tuple[ipaddress.IPv6Network, ...]:
    """The IPv6 networks that carry a reserved IPv4 network `offset` bits into `prefix`."""
    base = ipaddress.IPv6Network(prefix)
    shift = 128 - offset - 32
    return tuple(
        ipaddress.IPv6Network(
            (int(base.network_address) | (int(v4.network_address) << shift), offset + v4.prefixlen)
        )
        for v4 in RESERVED_V4
    )


RESERVED_V6 = (
    *(
        ipaddress.IPv6Network(n)
        for n in (
            "100::/64",
            "2001::/23",
            "2001:db8::/32",
            "64:ff9b:1::/48",
            "fc00::/7",
            "fe80::/10",
            "fec0::/10",
            "ff00::/8",
        )
    ),
    # IPv4-compatible (:: and ::1 among them), IPv4-mapped, NAT64 and 6to4.
    *_carrying("::/96", 96),
    *_carrying("::ffff:0:0/96", 96),
    *_carrying("64:ff9b::/96", 96),
    *_carrying("2002::/16", 16),
)


def reserved(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in network for network in RESERVED_V4)
    return any(address in network for network in RESERVED_V6)


@dataclass(frozen=True)
class EgressPolicy:
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: Settings) -> EgressPolicy:
        return cls.parse(settings.allow_private_targets)

    @classmethod
    def parse(cls, entries: Iterable[str]) -> EgressPolicy:
        networks: list[Network] = []
        hosts: set[str] = set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                hosts.add(entry.strip().lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def allows(self, host: str, address: Address) -> bool:
        if _public(address):
            return True
        if host.lower().rstrip(".") in self.hosts:
            return True
        return any(address in network for network in self.networks)

    async def resolve(self, host: str, port: int) -> str:
        """An address of `host` the policy allows connecting to (EgressRefused if none)."""
        try:
            literal: Address | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            if not self.allows(host, literal):
                raise EgressRefused()
            return str(literal)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise EgressRefused() from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        # Any private answer refuses the name: a name that resolves both ways is a way in.
        if not addresses or not all(self.allows(host, a) for a in addresses):
            raise EgressRefused()
        return str(addresses[0])

    async def open_connection(
        self, host: str, port: int, tls: ssl.SSLContext | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP (or TLS, verified against `host`) connection to an allowed address."""
        address = await self.resolve(host, port)
        return await asyncio.open_connection(
            address, port, ssl=tls, server_hostname=host if tls else None
        )

    def client(self, **options: Any) -> httpx.AsyncClient:
        """An httpx client whose every connection (redirects too) obeys the policy."""
        verify = options.pop("verify", True)
        transport = httpx.AsyncHTTPTransport(verify=verify)
        # httpx builds its connection pool without a way to pass a network backend; the
        # pool reads this attribute for every new connection.
        transport._pool._network_backend = _CheckedBackend(self)
        return httpx.AsyncClient(transport=transport, trust_env=False, **options)


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self.policy.resolve(host, port)
        return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused()

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def local_source(path: Path, settings: Settings, shown: str | None = None) -> Path:
    """`path` resolved, if it lies under one of the operator's source directories.

    The answer for a path outside them never depends on whether it exists.
    """
    resolved = path.resolve()
    data_dir = settings.data_dir.resolve()
    for root in settings.local_source_dirs:
        base = Path(root).resolve()
        if resolved.is_relative_to(base) and not resolved.is_relative_to(data_dir):
            return resolved
    raise LocalPathRefused(shown or str(path))
