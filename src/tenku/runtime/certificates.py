"""The router's certificate table: which custom domain is served with which certificate.

The dyno manager's passes read the apps' SNI endpoints with the rest of the desired state
(`read` in its snapshot's session, `apply` once the route table is built). A certificate
is decrypted and loaded into a TLS context once, when its `ssl_cert_id` is first seen.
The plaintext key is kept only when the router has processes of its own, which load the
same contexts from it (see tenku.router.processes); it never leaves memory. Handshakes
only look a host name up in a dict.

A custom domain is served with the endpoint it names, else with the newest of its app's
endpoints whose certificate covers it, else with Tenku's certificate (as are the apps'
default hosts, which custom certificates never serve).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from tenku.config import Settings
from tenku.db.models import SniEndpoint
from tenku.resources.sni_endpoint.certs import covers
from tenku.resources.sni_endpoint.service import seal_context
from tenku.storage.sealing import Sealer, SealError
from tenku.storage.signing import load_secret
from tenku.tls import pem_ssl_context

log = logging.getLogger("tenku.runtime.certificates")

# (hostname, app id, the SNI endpoint it names)
DomainRow = tuple[str, uuid.UUID, uuid.UUID | None]


@dataclass(frozen=True)
class _Endpoint:
    id: uuid.UUID
    app_id: uuid.UUID
    ssl_cert_id: uuid.UUID
    cert_domains: tuple[str, ...]
    created_at: datetime


@dataclass
class CertificateRows:
    """What one pass read: every endpoint, and the chain and sealed key of new ones."""

    endpoints: list[_Endpoint] = field(default_factory=list)
    # ssl_cert_id -> (endpoint id, chain, sealed key)
    material: dict[uuid.UUID, tuple[uuid.UUID, str, str]] = field(default_factory=dict)

    def apps(self) -> set[uuid.UUID]:
        """The apps with an endpoint: only their domains can be served a certificate."""
        return {e.app_id for e in self.endpoints}


class Certificates:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sealer: Sealer | None = None
        self._contexts: dict[uuid.UUID, ssl.SSLContext] = {}
        # Certificates that could not be loaded; not tried again (a new upload has a new id).
        self._failed: set[uuid.UUID] = set()
        self._hosts: dict[str, ssl.SSLContext] = {}
        # For the router's other processes: each loaded certificate's chain and key, and
        # each host's; and who hears of changes.
        self._keep_pems = settings.router_processes > 1
        self._pems: dict[uuid.UUID, tuple[bytes, bytes]] = {}
        self._host_pems: dict[str, tuple[bytes, bytes]] = {}
        self._watchers: list[Callable[[], None]] = []

    def certificate(self, host: str) -> ssl.SSLContext | None:
        return self._hosts.get(host)

    def pems(self) -> dict[str, tuple[bytes, bytes]]:
        return self._host_pems

    def watch(self, changed: Callable[[], None]) -> None:
        self._watchers.append(changed)

    @property
    def hosts(self) -> frozenset[str]:
        """The host names served with an app's own certificate."""
        return frozenset(self._hosts)

    async def read(self, conn: AsyncConnection) -> CertificateRows:
        rows = CertificateRows()
        result = await conn.execute(
            select(
                SniEndpoint.id,
                SniEndpoint.app_id,
                SniEndpoint.ssl_cert_id,
                SniEndpoint.cert_domains,
                SniEndpoint.created_at,
            )
        )
        for endpoint_id, app_id, cert_id, names, created_at in result.all():
            rows.endpoints.append(
                _Endpoint(endpoint_id, app_id, cert_id, tuple(names or ()), created_at)
            )
        known = self._contexts.keys() | self._failed
        new = [e.id for e in rows.endpoints if e.ssl_cert_id not in known]
        if new:
            material = await conn.execute(
                select(
                    SniEndpoint.ssl_cert_id,
                    SniEndpoint.id,
                    SniEndpoint.certificate_chain,
                    SniEndpoint.private_key,
                ).where(SniEndpoint.id.in_(new))
            )
            for cert_id, endpoint_id, chain, key in material.all():
                rows.material[cert_id] = (endpoint_id, chain, key)
        return rows

    async def apply(
        self,
        rows: CertificateRows,
        domains: Sequence[DomainRow],
        app_of: Callable[[str], uuid.UUID | None],
    ) -> None:
        """Load new certificates and rebuild the host table; `app_of` names the app a host
        routes to (None for one that routes nowhere)."""
        if rows.material:
            loaded = await asyncio.to_thread(self._load, rows.material)
            self._contexts.update(loaded)
        live = {e.ssl_cert_id for e in rows.endpoints}
        self._contexts = {k: v for k, v in self._contexts.items() if k in live}
        self._pems = {k: v for k, v in self._pems.items() if k in live}
        self._failed &= live
        hosts = self._table(rows.endpoints, domains, app_of)
        changed = hosts.keys() != self._hosts.keys() or any(
            hosts[h] is not self._hosts[h] for h in hosts
        )
        self._hosts = hosts
        if changed and self._keep_pems:
            by_context = {id(self._contexts[k]): pem for k, pem in self._pems.items()}
            self._host_pems = {
                h: by_context[id(c)] for h, c in hosts.items() if id(c) in by_context
            }
            for watcher in self._watchers:
                watcher()

    def _load(
        self, material: dict[uuid.UUID, tuple[uuid.UUID, str, str]]
    ) -> dict[uuid.UUID, ssl.SSLContext]:
        if self._sealer is None:
            self._sealer = Sealer(load_secret(self.settings.data_dir, self.settings.secret_key))
        loaded = {}
        for cert_id, (endpoint_id, chain, sealed) in material.items():
            try:
                key = self._sealer.open(sealed, seal_context(endpoint_id))
                loaded[cert_id] = pem_ssl_context(chain.encode(), key)
                if self._keep_pems:
                    self._pems[cert_id] = (chain.encode(), key)
            except (SealError, ssl.SSLError, ValueError) as exc:
                # Its domains get Tenku's certificate until a new one is uploaded.
                log.warning(
                    "SNI endpoint %s: its certificate cannot be served: %s", endpoint_id, exc
                )
                self._failed.add(cert_id)
            except Exception:
                # Something of this machine's (out of file descriptors): tried again next pass.
                log.exception("SNI endpoint %s: could not load its certificate", endpoint_id)
        return loaded

    def _table(
        self,
        endpoints: list[_Endpoint],
        domains: Sequence[DomainRow],
        app_of: Callable[[str], uuid.UUID | None],
    ) -> dict[str, ssl.SSLContext]:
        by_id = {e.id: e for e in endpoints}
        by_app: dict[uuid.UUID, list[_Endpoint]] = defaultdict(list)
        # Newest first: a newer certificate is the one meant to replace an older one.
        for endpoint in sorted(endpoints, key=_newest_first):
            by_app[endpoint.app_id].append(endpoint)
        hosts: dict[str, ssl.SSLContext] = {}
        for hostname, app_id, named in domains:
            host = hostname.lower()
            if app_of(host) != app_id:
                continue
            chosen = by_id.get(named) if named is not None else None
            if chosen is None or chosen.app_id != app_id:
                chosen = next(
                    (e for e in by_app.get(app_id, ()) if covers(e.cert_domains, host)), None
                )
            context = self._contexts.get(chosen.ssl_cert_id) if chosen is not None else None
            if context is not None:
                hosts[host] = context
        return hosts


def _newest_first(endpoint: _Endpoint) -> tuple[Any, ...]:
    return (-endpoint.created_at.timestamp(), str(endpoint.id))
