"""Where the built-in providers' servers are: the operator's, or Tenku's own ("managed").

`TENKU_ADDON_POSTGRES_URL` and `TENKU_ADDON_REDIS_URL` name an operator's server by its
admin URL, or say `managed`: Tenku then runs a server of its own (tenku/runtime/
addon_servers.py), with TLS from Tenku's CA on a port of 127.0.0.1 for apps, and the admin
connecting over a unix socket in a directory no other user may enter. `auto` (the default)
is `managed` once Tenku has made that server (`tenku up` makes it where the machine has the
programs), and the operator's default URL before.

A managed server's files: `<data>/addon-servers/<name>/` (its data and certificate; the
server's own), the socket directory `<data>/run/<name>/` (mode 0700), and beside them in
`<data>/addon-servers/` what only Tenku reads (its log, the Redis admin password).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from psycopg.conninfo import conninfo_to_dict

from tenku.config import Settings

MANAGED = "managed"
AUTO = "auto"
OPERATOR_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
OPERATOR_REDIS_URL = "redis://127.0.0.1:6379"
# Where managed servers take apps' connections; their certificates cover it.
HOST = "127.0.0.1"
POSTGRES_ADMIN = "postgres"
REDIS_ADMIN = "tenku-admin"
# sun_path holds 108 bytes with the terminating NUL.
SOCKET_PATH_MAX = 107


@dataclass(frozen=True)
class ServerFiles:
    name: str
    # The server's own directory (its data, its certificate).
    root: Path
    # Its unix socket's directory, for the admin.
    run: Path
    # Tenku's files about it.
    private: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def cert(self) -> Path:
        return self.root / "tls" / "server.pem"

    @property
    def key(self) -> Path:
        return self.root / "tls" / "server-key.pem"

    @property
    def log(self) -> Path:
        return self.private / f"{self.name}.log"

    @property
    def lock(self) -> Path:
        return self.private / f"{self.name}.lock"

    @property
    def secret(self) -> Path:
        return self.private / f"{self.name}.secret"


def server_files(data_dir: Path, name: str) -> ServerFiles:
    return ServerFiles(
        name=name,
        root=data_dir / "addon-servers" / name,
        run=data_dir / "run" / name,
        private=data_dir / "addon-servers",
    )


def postgres_made(files: ServerFiles) -> bool:
    return (files.data / "PG_VERSION").is_file()


def redis_made(files: ServerFiles) -> bool:
    return (files.data / "users.acl").is_file()


def postgres_socket(files: ServerFiles, port: int) -> Path:
    return files.run / f".s.PGSQL.{port}"


def redis_socket(files: ServerFiles) -> Path:
    return files.run / "redis.sock"


def redis_admin_password(files: ServerFiles, create: bool = False) -> str | None:
    """The managed Redis's admin password, kept where only Tenku reads it."""
    try:
        return files.secret.read_text().strip() or None
    except FileNotFoundError:
        if not create:
            return None
    files.private.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_hex(32)
    staged = files.secret.with_name(f".{files.secret.name}.tmp")
    staged.unlink(missing_ok=True)
    staged.touch(mode=0o600)
    staged.write_text(password + "\n")
    staged.replace(files.secret)
    return password


@dataclass(frozen=True)
class Public:
    """Where the URLs handed to apps point, and whether they ask for TLS (`rediss://`,
    `sslmode=require`)."""

    host: str
    port: int
    tls: bool


@dataclass(frozen=True)
class Endpoint:
    """A built-in provider's server: how Tenku connects as its admin, where apps go."""

    admin_url: str
    public: Public
    managed: bool

    @property
    def where(self) -> str:
        return f"{self.public.host}:{self.public.port}"


def _choice(value: str, made: bool, operator_default: str) -> str:
    if value == AUTO:
        return MANAGED if made else operator_default
    return value


def postgres_choice(settings: Settings) -> str:
    """`managed`, or the admin URL of the operator's server."""
    files = server_files(settings.data_dir, "postgres")
    return _choice(settings.addon_postgres_url, postgres_made(files), OPERATOR_POSTGRES_URL)


def redis_choice(settings: Settings) -> str:
    files = server_files(settings.data_dir, "redis")
    return _choice(settings.addon_redis_url, redis_made(files), OPERATOR_REDIS_URL)


def managed_postgres_admin(settings: Settings) -> str:
    files = server_files(settings.data_dir, "postgres")
    socket_dir = quote(str(files.run), safe="")
    return f"postgresql://{POSTGRES_ADMIN}@/postgres?host={socket_dir}&port={settings.addon_postgres_port}"


def managed_redis_admin(settings: Settings) -> str:
    files = server_files(settings.data_dir, "redis")
    password = quote(redis_admin_password(files) or "", safe="")
    return f"unix://{REDIS_ADMIN}:{password}@{redis_socket(files)}?db=0"


def postgres_endpoint(settings: Settings) -> Endpoint:
    url = postgres_choice(settings)
    if url == MANAGED:
        port = settings.addon_postgres_port
        admin = managed_postgres_admin(settings)
        # It refuses connections without TLS, so apps' URLs need not ask for it (nor do
        # Heroku's, and some clients read `sslmode=require` as "verify the certificate").
        return Endpoint(admin, Public(HOST, port, tls=False), managed=True)
    return Endpoint(url, postgres_public(url), managed=False)


def postgres_public(admin_url: str) -> Public:
    """Where apps reach an operator's server: where its admin does. Apps' URLs ask for TLS
    when the admin's does."""
    params = conninfo_to_dict(admin_url)
    host = str(params.get("host") or HOST).split(",")[0]
    port = int(str(params.get("port") or "5432").split(",")[0])
    tls = str(params.get("sslmode") or "") in ("require", "verify-ca", "verify-full")
    return Public(host, port, tls)


def redis_endpoint(settings: Settings) -> Endpoint:
    url = redis_choice(settings)
    if url == MANAGED:
        public = Public(HOST, settings.addon_redis_port, tls=True)
        return Endpoint(managed_redis_admin(settings), public, managed=True)
    return Endpoint(url, redis_public(url), managed=False)


def redis_public(admin_url: str) -> Public:
    parts = urlsplit(admin_url)
    return Public(parts.hostname or HOST, parts.port or 6379, parts.scheme == "rediss")
