"""Operator settings for add-ons: where the built-in providers run, and the catalogue."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tenku.config import Settings

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
# The partner contract: answers SHOULD come within 3 s and MUST within 25 s.
PARTNER_TIMEOUT = 25.0


@dataclass(frozen=True)
class AddonSettings:
    postgres_url: str
    redis_url: str
    # "acl" (a user per add-on), "database" (a logical database each) or "auto".
    redis_isolation: str
    catalog_path: Path
    api_url: str
    partner_timeout: float = PARTNER_TIMEOUT

    @classmethod
    def of(cls, settings: Settings) -> AddonSettings:
        """Settings.extra wins over the environment, so tests and embedders can set them."""

        def get(name: str, default: str) -> str:
            return settings.extra.get(name) or os.environ.get(name) or default

        return cls(
            postgres_url=get("TENKU_ADDON_POSTGRES_URL", DEFAULT_POSTGRES_URL),
            redis_url=get("TENKU_ADDON_REDIS_URL", DEFAULT_REDIS_URL),
            redis_isolation=get("TENKU_ADDON_REDIS_ISOLATION", "auto"),
            catalog_path=Path(get("TENKU_ADDON_CATALOG", str(settings.data_dir / "addons"))),
            api_url=settings.public_api_url.rstrip("/"),
            partner_timeout=float(get("TENKU_ADDON_PARTNER_TIMEOUT", str(PARTNER_TIMEOUT))),
        )
