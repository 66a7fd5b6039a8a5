"""One place per process that knows the catalogue and holds the providers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tenku.addons.catalog import Catalog, CatalogError, ServiceSpec, fingerprint, load_catalog
from tenku.addons.partner import PartnerProvider
from tenku.addons.postgres import PostgresProvider
from tenku.addons.provider import AddonProvider
from tenku.addons.redis import RedisProvider
from tenku.addons.settings import AddonSettings
from tenku.egress import EgressPolicy

log = logging.getLogger("tenku.addons")


@dataclass
class AddonRegistry:
    settings: AddonSettings
    _catalog: Catalog | None = None
    _stamp: object = None
    _providers: dict[str, AddonProvider] = field(default_factory=dict)

    @property
    def catalog(self) -> Catalog:
        """The catalogue, reloaded when the operator's manifest files change."""
        stamp = fingerprint(self.settings.catalog_path)
        if self._catalog is None or stamp != self._stamp:
            try:
                self._catalog = load_catalog(self.settings.catalog_path)
            except CatalogError:
                log.exception("the add-on catalogue could not be loaded")
                raise
            self._stamp = stamp
        return self._catalog

    def provider(self, spec: ServiceSpec) -> AddonProvider:
        found = self._providers.get(spec.provider)
        if found is None:
            found = self._make(spec.provider)
            self._providers[spec.provider] = found
        return found

    def _make(self, kind: str) -> AddonProvider:
        if kind == "postgresql":
            pg = self.settings.postgres
            return PostgresProvider(pg.admin_url, pg.public)
        if kind == "redis":
            kv = self.settings.redis
            return RedisProvider(kv.admin_url, self.settings.redis_isolation, kv.public)
        return PartnerProvider(
            self.settings.partner_timeout, EgressPolicy.parse(self.settings.allow_private_targets)
        )
