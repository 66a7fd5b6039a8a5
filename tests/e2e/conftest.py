"""Fixtures for end-to-end tests: a live Tenku per backend, driven by the real `heroku` CLI.

One server runs per backend for the whole session (SQLite, then PostgreSQL). The CLI is the
pinned, unmodified npm package that scripts/install-clients puts under .tools/; without it
the tests are skipped, except in CI (CI=true), where that is an error.

Every process started here gets an environment built from scratch, so nothing from the
runner (HEROKU_*, TENKU_*, proxies, XDG dirs, TLS and Node settings) leaks in, and all the
hosts the CLI could reach are pointed at 127.0.0.1.

The server listens as users run it: HTTPS on `port` (API, git, blob URLs), with the CLI
and git trusting Tenku's own CA through NODE_EXTRA_CA_CERTS and GIT_SSL_CAINFO. The
harness reads back what the server holds over the plain-HTTP listener on `http_port`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from tests.conftest import uid_base

REPO = Path(__file__).resolve().parents[2]
HEROKU_BIN = REPO / ".tools" / "heroku-cli" / "node_modules" / ".bin" / "heroku"
PG_ADMIN = os.environ.get("TENKU_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_ADMIN = os.environ.get("TENKU_TEST_REDIS_ADMIN", "redis://127.0.0.1:6379/0")
V3 = "application/vnd.heroku+json; version=3"
PASSWORD = "correct horse battery staple"
TENKU = (sys.executable, "-m", "tenku.cli")
CLI_TIMEOUT = 60
START_TIMEOUT = 60

# Node's fetch refuses these (WHATWG "bad ports"); the CLI streams release output and logs
# with it, so the server must never land on one.
BAD_PORTS = frozenset(
    {1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95}
    | {101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161}
    | {179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563}
    | {587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060}
    | {5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080}
)

# What a child process needs to run at all; everything else is set explicitly. PYTHONPATH
# makes `python -m tenku.cli` the Tenku under test, wherever the installed one is.
PASSTHROUGH = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def base_env(home: Path) -> dict[str, str]:
    env = {k: os.environ[k] for k in PASSTHROUGH if k in os.environ}
    env["HOME"] = str(home)
    env["TMPDIR"] = str(home)
    return env


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in BAD_PORTS:
            return port


def unique_app_name(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    key: str


@dataclass
class LiveServer:
    backend: str
    port: int
    http_port: int
    root: Path
    env: dict[str, str]
    log_path: Path
    # The `tenku up` process (its process group holds the workers and the runtime).
    pid: int = 0

    @property
    def router_port(self) -> int:
        return int(self.env["TENKU_ROUTER_PORT"])

    @property
    def router_https_port(self) -> int:
        return int(self.env["TENKU_ROUTER_HTTPS_PORT"])

    def web_url(self, app: str) -> str:
        return f"https://{app}.tenku.localhost:{self.router_https_port}/"

    @property
    def url(self) -> str:
        """The plain-HTTP listener, for the harness's own reads."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https_url(self) -> str:
        """What users point HEROKU_HOST at; the git remote is on it too."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def ca(self) -> Path:
        """Tenku's certificate authority, made on first start."""
        return self.data_dir / "tls" / "ca.pem"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def tenku(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*TENKU, *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )

    def create_user(self, email: str, password: str = PASSWORD) -> Account:
        done = self.tenku(
            "users", "create", email, "--password", password, "--data-dir", str(self.data_dir)
        )
        assert done.returncode == 0, done.stderr
        key = done.stdout.strip()
        # The key must be the only thing on stdout so `KEY=$(tenku users create …)` works.
        assert key, done.stderr
        assert done.stdout == key + "\n", done.stdout
        return Account(email, password, key)


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def require_pg() -> None:
    if not _pg_reachable():
        if os.environ.get("TENKU_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is required (TENKU_REQUIRE_POSTGRES=1) but not reachable")
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432")


@contextlib.contextmanager
def throwaway_pg_database() -> Iterator[str]:
    """A new PostgreSQL database, as the user-facing URL an operator would give."""
    require_pg()
    name = f"tenku_e2e_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # The server runs in its own session: signal the whole group so that no uvicorn
    # worker outlives the test run.
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _wait_until_up(proc: subprocess.Popen[bytes], server: LiveServer) -> None:
    for url in (server.url, server.https_url):
        _wait_for(proc, server, url)


def _wait_for(proc: subprocess.Popen[bytes], server: LiveServer, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"tenku up exited with {proc.returncode} ({server.backend}):\n" + server.log_tail()
            )
        try:
            # Over HTTPS this also proves that the certificate verifies against the CA.
            verify: ssl.SSLContext | bool = False
            if url.startswith("https:"):
                verify = ssl.create_default_context(cafile=str(server.ca))
            r = httpx.get(
                url + "/account",
                headers={"Accept": V3},
                timeout=2,
                trust_env=False,
                verify=verify,
            )
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        # An API error body (the 401 for no token) tells our server from anything else that
        # might have grabbed the port between picking it and binding it.
        is_json = r.headers.get("content-type", "").startswith("application/json")
        if (
            proc.poll() is None
            and r.status_code == 401
            and is_json
            and {"id", "message"} <= set(r.json())
        ):
            return
        pytest.fail(f"unexpected answer on {url}: {r.status_code} {r.text[:200]}")
    pytest.fail(f"tenku up did not answer within {START_TIMEOUT}s:\n" + server.log_tail())


@contextlib.contextmanager
def launch(
    backend: str,
    root: Path,
    database_url: str | None = None,
    workers: int = 1,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[LiveServer]:
    """`tenku up` as a user runs it, in its own process group, until the block ends."""
    port = free_port()
    http_port = free_port()
    while http_port == port:
        http_port = free_port()
    env = base_env(root)
    env["PYTHONUNBUFFERED"] = "1"
    # The server runs the code under test, also when that is put first on the path.
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    taken = {port, http_port}
    for name in ("TENKU_ROUTER_PORT", "TENKU_ROUTER_HTTPS_PORT", "TENKU_RENDEZVOUS_PORT"):
        chosen = free_port()
        while chosen in taken:
            chosen = free_port()
        taken.add(chosen)
        env[name] = str(chosen)
    if database_url is not None:
        env["TENKU_DATABASE_URL"] = database_url
    # The drain receivers and partners the tests start listen on loopback.
    env["TENKU_ALLOW_PRIVATE_TARGETS"] = "127.0.0.0/8,::1,localhost"
    # The machine's PostgreSQL and Redis take connections without passwords. The add-on
    # tests read back what they hold there; a test of Tenku's own servers says `managed`.
    env["TENKU_ADDON_UNSAFE_ADMIN"] = "1"
    env["TENKU_ADDON_POSTGRES_URL"] = PG_ADMIN
    env["TENKU_ADDON_REDIS_URL"] = REDIS_ADMIN
    env["TENKU_SANDBOX_UID_BASE"] = str(uid_base())
    env.update(extra_env or {})
    live = LiveServer(backend, port, http_port, root, env, root / "server.log")
    log: IO[bytes] = live.log_path.open("wb")
    args = ["--port", str(port), "--http-port", str(http_port), "--workers", str(workers)]
    proc = subprocess.Popen(
        [*TENKU, "up", "--data-dir", str(live.data_dir), *args],
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    live.pid = proc.pid
    try:
        _wait_until_up(proc, live)
        yield live
    finally:
        _stop(proc)
        log.close()


class Installations:
    """The session's servers, one per backend, each started when first wanted and kept to
    the end of the session, with the accounts and CLI homes made on it.

    pytest holds one value of a parametrized session fixture at a time: each time the
    backend changes between test files, `server` is made again. Were that a new `tenku
    up` (a dozen seconds of starting processes), a worker that gets files of both backends
    would start one per file; here it finds the one it started before.
    """

    def __init__(self, stack: contextlib.ExitStack, paths: pytest.TempPathFactory) -> None:
        self._stack = stack
        self._paths = paths
        self._servers: dict[str, LiveServer] = {}
        self._accounts: dict[tuple[str, str], Account] = {}
        self._homes: dict[str, dict[str, Path]] = {}

    def server(self, backend: str) -> LiveServer:
        if backend not in self._servers:
            root = self._paths.mktemp(f"tenku-{backend}")
            url = None
            if backend == "postgresql":
                url = self._stack.enter_context(throwaway_pg_database())
            self._servers[backend] = self._stack.enter_context(launch(backend, root, url))
        return self._servers[backend]

    def account(self, server: LiveServer, email: str) -> Account:
        key = (server.backend, email)
        if key not in self._accounts:
            self._accounts[key] = server.create_user(email)
        return self._accounts[key]

    def homes(self, server: LiveServer) -> dict[str, Path]:
        if server.backend not in self._homes:
            self._homes[server.backend] = {
                role: self._paths.mktemp(f"home-{role}-{server.backend}")
                for role in ("owner", "other")
            }
        return self._homes[server.backend]


@pytest.fixture(scope="session")
def installations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installations]:
    with contextlib.ExitStack() as stack:
        yield Installations(stack, tmp_path_factory)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, installations: Installations) -> LiveServer:
    return installations.server(request.param)


@pytest.fixture(scope="session")
def owner(server: LiveServer, installations: Installations) -> Account:
    return installations.account(server, "owner@example.com")


@pytest.fixture(scope="session")
def other(server: LiveServer, installations: Installations) -> Account:
    return installations.account(server, "other@example.com")


@pytest.fixture(scope="session")
def api(server: LiveServer, owner: Account) -> Iterator[httpx.Client]:
    """Reads back what the server holds, as the owner, straight from the live API."""
    with httpx.Client(
        base_url=server.url,
        headers={"Accept": V3, "Authorization": f"Bearer {owner.key}"},
        timeout=30,
        trust_env=False,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def heroku_bin() -> Path:
    problem = None
    if not os.access(HEROKU_BIN, os.X_OK):
        problem = f"the heroku CLI is not installed at {HEROKU_BIN}; run scripts/install-clients"
    elif shutil.which("node", path=os.environ.get("PATH")) is None:
        problem = "node is not on PATH; the heroku CLI needs it"
    if problem is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    return HEROKU_BIN


class CliResult(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


class Heroku:
    """Runs the real CLI against the live server, as one account, with its own HOME."""

    def __init__(self, binary: Path, server: LiveServer, key: str | None, home: Path) -> None:
        self.binary = binary
        self.server = server
        self.key = key
        self.home = home
        home.mkdir(parents=True, exist_ok=True)

    def env(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
        url = self.server.https_url
        env = base_env(self.home)
        env.update(
            HEROKU_HOST=url,
            # Trust Tenku's CA as `tenku up` says, in node and (per process here) in git.
            NODE_EXTRA_CA_CERTS=str(self.server.ca),
            GIT_SSL_CAINFO=str(self.server.ca),
            HEROKU_PARTICLEBOARD_URL=url,
            HEROKU_BUILDPACK_REGISTRY_URL=url,
            # The Data API (pg:*, redis:*) is on the API host. The CLI passes this value as
            # Node's `hostname`, which takes no port: the port stays HEROKU_HOST's.
            HEROKU_DATA_HOST=urlsplit(url).hostname or "127.0.0.1",
            DISABLE_TELEMETRY="true",
            IS_HEROKU_TEST_ENV="true",
            HEROKU_SKIP_ANALYTICS="1",
            HEROKU_DISABLE_AUTOUPDATE="1",
            HEROKU_SKIP_NEW_VERSION_CHECK="true",
            # Credentials go to HOME/.netrc, never to a desktop keyring of the machine.
            HEROKU_NETRC_WRITE="true",
        )
        if self.key is not None:
            env["HEROKU_API_KEY"] = self.key
        for name, value in (extra or {}).items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def argv(self, *args: str) -> list[str]:
        return [str(self.binary), *args]

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        env_extra: Mapping[str, str | None] | None = None,
    ) -> CliResult:
        proc = subprocess.Popen(
            self.argv(*args),
            env=self.env(env_extra),
            cwd=self.home,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(input=input or "", timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(
                f"heroku {' '.join(args)} timed out after {CLI_TIMEOUT}s\n"
                f"stdout:\n{out}\nstderr:\n{err}"
            )
        result = CliResult(proc.returncode, plain(out), plain(err))
        if check:
            assert result.returncode == 0, self.describe(args, result)
        return result

    def describe(self, args: tuple[str, ...], result: CliResult) -> str:
        return (
            f"heroku {' '.join(args)} exited {result.returncode} on {self.server.backend}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )


@pytest.fixture(scope="session")
def cli_homes(server: LiveServer, installations: Installations) -> dict[str, Path]:
    # One HOME per account for the session: the CLI's first run in an empty HOME costs about
    # a second more than the next ones, and these accounts never log in (they use API keys).
    return installations.homes(server)


@pytest.fixture(scope="session")
def heroku(
    heroku_bin: Path, server: LiveServer, owner: Account, cli_homes: dict[str, Path]
) -> Heroku:
    return Heroku(heroku_bin, server, owner.key, cli_homes["owner"])


@pytest.fixture
def heroku_fresh(heroku_bin: Path, server: LiveServer, owner: Account, tmp_path: Path) -> Heroku:
    """The CLI in an empty HOME of this test's own, for logins that write ~/.netrc."""
    return Heroku(heroku_bin, server, owner.key, tmp_path / "home")


@pytest.fixture
def app(api: httpx.Client) -> Iterator[str]:
    """A fresh app of the owner's, created over the API so that each test starts clean."""
    name = unique_app_name()
    r = api.post("/apps", json={"name": name})
    assert r.status_code == 201, r.text
    yield name
    api.delete(f"/apps/{name}")


def styled_object(out: str) -> dict[str, str]:
    """The `Key: value` lines of the CLI's styled objects (values may contain colons)."""
    fields = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "===")):
            fields[key.strip()] = value.strip()
    return fields


def json_of(response: httpx.Response) -> Any:
    assert response.headers.get("content-type", "").startswith("application/json"), response.text
    return response.json()


@pytest.fixture(scope="session")
def heroku_other(
    heroku_bin: Path, server: LiveServer, other: Account, cli_homes: dict[str, Path]
) -> Heroku:
    return Heroku(heroku_bin, server, other.key, cli_homes["other"])


@pytest.fixture
def team(api: httpx.Client, other: Account) -> Iterator[str]:
    """A team of the owner's, with the other account as a member."""
    name = unique_app_name("team")
    assert api.post("/teams", json={"name": name}).status_code == 201
    r = api.put(f"/teams/{name}/members", json={"email": other.email, "role": "member"})
    assert r.status_code == 201, r.text
    yield name
    api.delete(f"/teams/{name}")
