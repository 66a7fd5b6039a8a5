"""Operator settings for add-ons, as the providers and the catalogue need them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tenku.config import Settings


@dataclass(frozen=True)
class AddonSettings:
    postgres_url: str
    redis_url: str
    # "acl" (a user per add-on), "database" (a logical database each) or "auto".
    redis_isolation: str
    catalog_path: Path
    api_url: str
    partner_timeout: float
    allow_private_targets: tuple[str, ...] = ()

    @classmethod
    def of(cls, settings: Settings) -> AddonSettings:
        return cls(
            postgres_url=settings.addon_postgres_url,
            redis_url=settings.addon_redis_url,
            redis_isolation=settings.addon_redis_isolation,
            catalog_path=settings.addon_catalog or settings.data_dir / "addons",
            api_url=settings.public_api_url.rstrip("/"),
            partner_timeout=settings.addon_partner_timeout,
            allow_private_targets=settings.allow_private_targets,
        )
