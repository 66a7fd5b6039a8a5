"""What the router needs to know about an app, and how it asks for it.

The router holds no app state of its own: it asks a `RouteTable` on every request, so
a deploy, a scale, a restart or a maintenance switch is visible to the next request
without the platform having to push anything into the router.

A router with processes of its own needs more: a `RouteFeed` can list all of itself and
say which apps changed, so each process keeps a copy that follows it (processes.py); a
`CertificateFeed` hands over its certificates as PEM for the same reason.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Backend:
    """An `up` web dyno the router may send requests to."""

    dyno: str
    host: str
    port: int


@dataclass(frozen=True)
class Target:
    """The app a host name belongs to, and where its web dynos listen right now."""

    app_id: uuid.UUID
    app_name: str
    maintenance: bool
    # Routable web dynos (state `up`); the router picks among these at random.
    backends: tuple[Backend, ...]
    # "up" | "starting" | "crashed" | "none" (no web dyno scaled) | "blank" (never deployed)
    web_state: str
    # The app's config vars; the router reads ERROR_PAGE_URL and MAINTENANCE_PAGE_URL.
    config: Mapping[str, str]
    # The `http-session-affinity` app feature: a cookie keeps each client on one dyno.
    affinity: bool = False


class RouteTable(Protocol):
    async def lookup(self, host: str) -> Target | None:
        """The app serving `host` (lowercased, port stripped); None for an unknown host."""
        ...


@runtime_checkable
class MemoryRouteTable(RouteTable, Protocol):
    """A route table that answers from memory: the router then routes most requests
    without a task of their own."""

    def find(self, host: str) -> Target | None:
        """What `lookup` answers, at once."""
        ...


# Which apps' targets may have changed; None: any of them, or which hosts route where.
Changed = Callable[[Collection[uuid.UUID] | None], None]


@runtime_checkable
class RouteFeed(MemoryRouteTable, Protocol):
    def hosts(self) -> Mapping[str, uuid.UUID]:
        """Every host name the table routes, and the app it routes to."""
        ...

    def target(self, app_id: uuid.UUID) -> Target | None:
        """What `find` answers for the app's hosts right now."""
        ...

    def watch(self, changed: Changed) -> None:
        """Call `changed` after every change to what `hosts` or `target` answer."""
        ...


class CertificateTable(Protocol):
    def certificate(self, host: str) -> ssl.SSLContext | None:
        """The TLS context that serves `host` (lowercased) with its app's own certificate;
        None for Tenku's. Called during TLS handshakes, on the event loop: it must answer
        from memory."""
        ...


@runtime_checkable
class CertificateFeed(CertificateTable, Protocol):
    def pems(self) -> Mapping[str, tuple[bytes, bytes]]:
        """Each host with a certificate of its own: the chain and the private key, as PEM."""
        ...

    def watch(self, changed: Callable[[], None]) -> None:
        """Call `changed` after every change to what `pems` answers."""
        ...


# (app_id, message): the message of one `heroku[router]` line in that app's log.
RouterLog = Callable[[uuid.UUID, str], None]
