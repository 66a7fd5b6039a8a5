from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    host: str = "127.0.0.1"
    port: int = 5000
    # Requests per hour per account; the bucket also holds this many.
    rate_limit_per_hour: int = 4500
    # Apps answer at <app>.<base_domain>; the router listens for it (later).
    base_domain: str = "tenku.localhost"
    api_url: str = ""
    # Signs blob URLs; shared by every host of one installation when set.
    secret_key: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def public_api_url(self) -> str:
        return self.api_url or f"http://{self.host}:{self.port}"

    @property
    def git_host(self) -> str:
        return f"{self.host}:{self.port}"


def default_data_dir() -> Path:
    return Path(os.environ.get("TENKU_DATA_DIR") or Path.cwd() / "tenku-data")


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / 'tenku.db'}"


def normalize_database_url(url: str) -> str:
    """Map user-facing URLs onto the async drivers Tenku uses."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def load_settings(
    data_dir: Path | None = None,
    port: int | None = None,
    host: str | None = None,
    database_url: str | None = None,
) -> Settings:
    data_dir = Path(data_dir or default_data_dir()).resolve()
    url = database_url or os.environ.get("TENKU_DATABASE_URL") or sqlite_url(data_dir)
    return Settings(
        data_dir=data_dir,
        database_url=normalize_database_url(url),
        host=host or os.environ.get("TENKU_HOST", "127.0.0.1"),
        port=port if port is not None else _env_int("TENKU_PORT", 5000),
        rate_limit_per_hour=_env_int("TENKU_RATE_LIMIT_PER_HOUR", 4500),
        base_domain=os.environ.get("TENKU_BASE_DOMAIN", "tenku.localhost"),
        api_url=os.environ.get("TENKU_API_URL", ""),
        secret_key=os.environ.get("TENKU_SECRET_KEY") or None,
    )
