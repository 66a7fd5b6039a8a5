from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


def _env_optional_float(name: str) -> float | None:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else None


def _env_optional_int(name: str) -> int | None:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else None


def _env_port(name: str, default: int) -> int | None:
    """A listener's port from the environment; `off` turns the listener off."""
    raw = (os.environ.get(name) or "").strip()
    if raw.lower() in ("off", "none", "disabled"):
        return None
    return int(raw) if raw else default


def _env_choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
    return raw


def _env_list(name: str, separator: str = ",") -> tuple[str, ...]:
    raw = os.environ.get(name) or ""
    return tuple(item.strip() for item in raw.split(separator) if item.strip())


ROUTER_PROCESSES_CAP = 8


def default_router_processes() -> int:
    """One router process per CPU this process may use, up to ROUTER_PROCESSES_CAP."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, ROUTER_PROCESSES_CAP))


def url_host(host: str) -> str:
    """`host` as it appears in a URL: IPv6 in brackets, wildcard binds as loopback."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    host: str = "127.0.0.1"
    port: int = 5000
    # Requests per hour per account; the bucket also holds this many.
    rate_limit_per_hour: int = 4500
    # API worker processes sharing the database (set by `tenku up --workers`): each keeps
    # part of the rate limit's slack (see tenku/web/ratelimit.py).
    api_workers: int = 1
    # Apps answer at <app>.<base_domain>; the router listens for it (later).
    base_domain: str = "tenku.localhost"
    api_url: str = ""
    # Signs blob URLs; shared by every host of one installation when set.
    secret_key: str | None = None
    # A plain-HTTP listener besides the HTTPS one on `port`, for clients that cannot be
    # made to trust Tenku's certificate authority.
    http_port: int | None = None
    # Names and addresses the server certificate covers besides loopback and the app domain.
    tls_hostnames: tuple[str, ...] = ()
    # Proxies (addresses or CIDRs) whose X-Forwarded-For / -Proto the API believes; without
    # one, a client is the address it connects from (rate limits are kept per address).
    trusted_proxies: tuple[str, ...] = ()
    # Private targets (addresses, CIDRs, host names) that source URLs, buildpack URLs, log
    # drains and partner add-ons may reach anyway; see tenku/egress.py.
    allow_private_targets: tuple[str, ...] = ()
    # Directories whose files `file://` sources and local buildpack paths may name.
    local_source_dirs: tuple[Path, ...] = ()
    # The router: apps' web dynos over HTTP and HTTPS (None: that listener is off).
    router_port: int | None = 5080
    router_https_port: int | None = 5443
    # Router processes serving those ports (Python uses one core per process): one per
    # CPU by default, at most ROUTER_PROCESSES_CAP.
    router_processes: int = field(default_factory=default_router_processes)
    # TLS listener `heroku run` attaches to (attach_url rendezvous://host:port/secret).
    rendezvous_port: int = 5001
    # What one source or buildpack tarball (MiB, members) and one slug (MiB) may unpack to.
    unpack_max_mb: int = 512
    unpack_max_members: int = 100_000
    slug_unpack_max_mb: int = 2048
    # The sandbox builds and dynos run in: "auto" (on where the machine can, refused for
    # more than one account where it cannot), "on" (required) or "off" (unconfined; unsafe
    # between users). Apps get uids from `sandbox_uid_base` up.
    sandbox: str = "auto"
    sandbox_uid_base: int = 2_000_000
    # Dynos' $PORTs come from this range (above Linux's ephemeral ports), which sandboxed
    # code may not connect to.
    sandbox_ports: str = "61000-64999"
    # Read-only directories builds and dynos see besides the system and the interpreters.
    sandbox_paths: tuple[Path, ...] = ()
    # Package registries builds fetch from (hosts, host:port or URLs): their addresses are
    # opened to sandboxed code even where this machine resolves them to private ones (a
    # mirror, a proxy).
    sandbox_registries: tuple[str, ...] = (
        "pypi.org",
        "files.pythonhosted.org",
        "registry.npmjs.org",
    )
    # The runtime: builds.
    build_timeout: float = 900.0
    build_concurrency: int = 2
    # Seconds between the runtime's heartbeats; four missed and its dynos and builds are
    # reported as dead (crashed, failed).
    runtime_heartbeat: float = 5.0
    # Seconds between janitor sweeps; 0 turns the janitor off.
    janitor_interval: float = 3600.0
    # The runtime: dynos on the local scheduler.
    boot_timeout: float = 60.0
    dyno_grace: float = 30.0
    crash_cooloff: float = 600.0
    memory_interval: float = 20.0
    # Preboot switches once every new web dyno is up, or at the latest after this
    # (None: `boot_timeout` plus two minutes).
    preboot_window: float | None = None
    # Add-ons: the servers the built-in providers use, and the operator's catalogue
    # (None: `<data_dir>/addons`). A server is an admin URL of the operator's, "managed"
    # (Tenku runs its own, with TLS: tenku/addons/servers.py) or "auto" (managed where the
    # machine has the server's programs and no add-on lives on the operator's default yet).
    addon_postgres_url: str = "auto"
    addon_redis_url: str = "auto"
    # The TLS ports of the managed servers, on 127.0.0.1.
    addon_postgres_port: int = 5442
    addon_redis_port: int = 6389
    # Where the managed PostgreSQL's initdb and postgres are (None: the newest of
    # /usr/lib/postgresql/*/bin, else PATH).
    addon_postgres_bin: Path | None = None
    # "acl" (a user per add-on), "database" (a logical database each) or "auto".
    addon_redis_isolation: str = "auto"
    addon_catalog: Path | None = None
    # The partner contract: answers SHOULD come within 3 s and MUST within 25 s.
    addon_partner_timeout: float = 25.0
    # A provider call still unanswered after this long was cut off by a worker that died;
    # the runtime then undoes it.
    addon_call_grace: float = 300.0
    # The add-on admin servers may take connections without a password, and Redis add-ons
    # may share the admin password (no ACLs): safe only where all accounts trust each other.
    addon_unsafe_admin: bool = False
    # Heroku Postgres transfers (backups, restores, copies): how long one may run, how many
    # MiB it may move, and where pg_dump and pg_restore are (None: the newest of
    # /usr/lib/postgresql/<version>/bin, else PATH's).
    pg_transfer_timeout: float = 4 * 3600.0
    pg_transfer_max_mb: int = 20 * 1024
    pg_bin_dir: Path | None = None
    # Mail (invitations): always written to `<data_dir>/mail/`, and sent through this SMTP
    # server when set: `smtp://[user:pass@]host:port`, `smtps://...`, `?starttls=1`.
    smtp_url: str | None = None
    # The From address (None: `Tenku <tenku@<base_domain>>`).
    mail_from: str | None = None
    # Where SMS messages (number confirmations, recovery codes) are POSTed as
    # `{"to", "body"}`; None keeps them in `<data_dir>/sms/` (see tenku/sms.py).
    sms_webhook_url: str | None = None

    @property
    def source_limits(self) -> tuple[int, int]:
        """Bytes and members a source or buildpack tarball may unpack to."""
        return self.unpack_max_mb << 20, self.unpack_max_members

    @property
    def public_api_url(self) -> str:
        """Where clients reach the API (and git, and blob URLs): HTTPS on `port`."""
        return (self.api_url or f"https://{url_host(self.host)}:{self.port}").rstrip("/")

    @property
    def http_api_url(self) -> str | None:
        if self.http_port is None:
            return None
        return f"http://{url_host(self.host)}:{self.http_port}"

    @property
    def public_host(self) -> str:
        """The host clients use for Tenku's own listeners (API, rendezvous)."""
        return urlsplit(self.public_api_url).hostname or url_host(self.host)

    def app_web_url(self, app_name: str) -> str:
        return self.app_web_url_format.format(app_name)

    @functools.cached_property
    def app_web_url_format(self) -> str:
        """`app_web_url` with `{}` for the app's name (a long app list formats it a
        thousand times)."""
        host = f"{{}}.{self.base_domain}"
        if self.router_https_port is not None:
            port = "" if self.router_https_port == 443 else f":{self.router_https_port}"
            return f"https://{host}{port}/"
        if self.router_port is not None:
            port = "" if self.router_port == 80 else f":{self.router_port}"
            return f"http://{host}{port}/"
        return f"https://{host}/"

    @functools.cached_property
    def git_host(self) -> str:
        # The CLI builds the remote from HEROKU_HOST's host:port, i.e. the public URL's.
        # Kept: every app body has it, and working it out parses the host each time.
        return urlsplit(self.public_api_url).netloc


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
    http_port: int | None = None,
) -> Settings:
    data_dir = Path(data_dir or default_data_dir()).resolve()
    url = database_url or os.environ.get("TENKU_DATABASE_URL") or sqlite_url(data_dir)
    # The defaults are the dataclass's own, so each is written once.
    d = {f.name: f.default for f in fields(Settings) if f.default is not MISSING}
    return Settings(
        data_dir=data_dir,
        database_url=normalize_database_url(url),
        host=host or os.environ.get("TENKU_HOST", d["host"]),
        port=port if port is not None else _env_int("TENKU_PORT", d["port"]),
        rate_limit_per_hour=_env_int("TENKU_RATE_LIMIT_PER_HOUR", d["rate_limit_per_hour"]),
        base_domain=os.environ.get("TENKU_BASE_DOMAIN", d["base_domain"]),
        api_url=os.environ.get("TENKU_API_URL", d["api_url"]),
        secret_key=os.environ.get("TENKU_SECRET_KEY") or None,
        http_port=http_port if http_port is not None else _env_optional_int("TENKU_HTTP_PORT"),
        tls_hostnames=_env_list("TENKU_TLS_HOSTNAMES"),
        trusted_proxies=_env_list("TENKU_TRUSTED_PROXIES"),
        allow_private_targets=_env_list("TENKU_ALLOW_PRIVATE_TARGETS"),
        local_source_dirs=tuple(map(Path, _env_list("TENKU_LOCAL_SOURCE_DIRS", os.pathsep))),
        router_port=_env_port("TENKU_ROUTER_PORT", d["router_port"]),
        router_https_port=_env_port("TENKU_ROUTER_HTTPS_PORT", d["router_https_port"]),
        router_processes=max(1, _env_int("TENKU_ROUTER_PROCESSES", default_router_processes())),
        rendezvous_port=_env_int("TENKU_RENDEZVOUS_PORT", d["rendezvous_port"]),
        unpack_max_mb=_env_int("TENKU_UNPACK_MAX_MB", d["unpack_max_mb"]),
        unpack_max_members=_env_int("TENKU_UNPACK_MAX_MEMBERS", d["unpack_max_members"]),
        slug_unpack_max_mb=_env_int("TENKU_SLUG_UNPACK_MAX_MB", d["slug_unpack_max_mb"]),
        sandbox=_env_choice("TENKU_SANDBOX", ("auto", "on", "off"), d["sandbox"]),
        sandbox_uid_base=_env_int("TENKU_SANDBOX_UID_BASE", d["sandbox_uid_base"]),
        sandbox_ports=os.environ.get("TENKU_SANDBOX_PORTS") or d["sandbox_ports"],
        sandbox_paths=tuple(map(Path, _env_list("TENKU_SANDBOX_PATHS", os.pathsep))),
        sandbox_registries=(
            _env_list("TENKU_SANDBOX_REGISTRIES")
            if "TENKU_SANDBOX_REGISTRIES" in os.environ
            else d["sandbox_registries"]
        ),
        build_timeout=_env_float("TENKU_BUILD_TIMEOUT", d["build_timeout"]),
        build_concurrency=_env_int("TENKU_BUILD_CONCURRENCY", d["build_concurrency"]),
        runtime_heartbeat=_env_float("TENKU_RUNTIME_HEARTBEAT", d["runtime_heartbeat"]),
        janitor_interval=_env_float("TENKU_JANITOR_INTERVAL", d["janitor_interval"]),
        boot_timeout=_env_float("TENKU_BOOT_TIMEOUT", d["boot_timeout"]),
        dyno_grace=_env_float("TENKU_DYNO_GRACE", d["dyno_grace"]),
        crash_cooloff=_env_float("TENKU_CRASH_COOLOFF", d["crash_cooloff"]),
        memory_interval=_env_float("TENKU_MEMORY_INTERVAL", d["memory_interval"]),
        preboot_window=_env_optional_float("TENKU_PREBOOT_WINDOW"),
        addon_postgres_url=os.environ.get("TENKU_ADDON_POSTGRES_URL") or d["addon_postgres_url"],
        addon_redis_url=os.environ.get("TENKU_ADDON_REDIS_URL") or d["addon_redis_url"],
        addon_postgres_port=_env_int("TENKU_ADDON_POSTGRES_PORT", d["addon_postgres_port"]),
        addon_redis_port=_env_int("TENKU_ADDON_REDIS_PORT", d["addon_redis_port"]),
        addon_postgres_bin=(
            Path(pg_bin) if (pg_bin := os.environ.get("TENKU_ADDON_POSTGRES_BIN")) else None
        ),
        addon_redis_isolation=(
            os.environ.get("TENKU_ADDON_REDIS_ISOLATION") or d["addon_redis_isolation"]
        ),
        addon_catalog=Path(catalog) if (catalog := os.environ.get("TENKU_ADDON_CATALOG")) else None,
        addon_partner_timeout=_env_float("TENKU_ADDON_PARTNER_TIMEOUT", d["addon_partner_timeout"]),
        addon_call_grace=_env_float("TENKU_ADDON_CALL_GRACE", d["addon_call_grace"]),
        addon_unsafe_admin=os.environ.get("TENKU_ADDON_UNSAFE_ADMIN", "") in ("1", "true", "yes"),
        pg_transfer_timeout=_env_float("TENKU_PG_TRANSFER_TIMEOUT", d["pg_transfer_timeout"]),
        pg_transfer_max_mb=_env_int("TENKU_PG_TRANSFER_MAX_MB", d["pg_transfer_max_mb"]),
        pg_bin_dir=Path(bins) if (bins := os.environ.get("TENKU_PG_BIN_DIR")) else None,
        smtp_url=os.environ.get("TENKU_SMTP_URL") or None,
        mail_from=os.environ.get("TENKU_MAIL_FROM") or None,
        sms_webhook_url=os.environ.get("TENKU_SMS_WEBHOOK_URL") or None,
    )
