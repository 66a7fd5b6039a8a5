"""Operator settings for add-ons, as the providers and the catalogue need them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from psycopg.conninfo import conninfo_to_dict

from tenku.addons.servers import Endpoint, postgres_endpoint, redis_endpoint
from tenku.config import Settings


@dataclass(frozen=True)
class AddonSettings:
    postgres: Endpoint
    redis: Endpoint
    # "acl" (a user per add-on), "database" (a logical database each) or "auto".
    redis_isolation: str
    catalog_path: Path
    api_url: str
    partner_timeout: float
    allow_private_targets: tuple[str, ...] = ()
    unsafe_admin: bool = False

    @classmethod
    def of(cls, settings: Settings) -> AddonSettings:
        return cls(
            postgres=postgres_endpoint(settings),
            redis=redis_endpoint(settings),
            redis_isolation=settings.addon_redis_isolation,
            catalog_path=settings.addon_catalog or settings.data_dir / "addons",
            api_url=settings.public_api_url.rstrip("/"),
            partner_timeout=settings.addon_partner_timeout,
            allow_private_targets=settings.allow_private_targets,
            unsafe_admin=settings.addon_unsafe_admin,
        )

    def admin_has_password(self, provider: str) -> bool:
        """Whether the built-in provider's admin needs a password (without one, the server
        trusts whoever connects from here, and dynos connect from here). A managed server's
        admin connects through a socket only Tenku may reach."""
        if provider == "postgresql":
            if self.postgres.managed:
                return True
            try:
                return bool(conninfo_to_dict(self.postgres.admin_url).get("password"))
            except Exception:
                return False
        if provider == "redis":
            return self.redis.managed or bool(urlsplit(self.redis.admin_url).password)
        return True
