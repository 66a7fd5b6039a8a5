"""Tenku's own PostgreSQL and Redis for add-ons (`managed`, see tenku/addons/servers.py).

`tenku up` starts them before it serves and stops them after its runtime, so dynos stop
while their databases still answer; meanwhile one that dies is started again
(`worker.Supervisor`). Each runs in a process group of its own with a parent-death signal,
so it does not outlive a `tenku up` killed outright. One left running all the same (by a
Tenku that crashed) is found by its program and working directory and stopped before a new
one starts, and a stale `postmaster.pid` is removed. A lock keeps a second Tenku of the same
data directory from starting them twice: it uses the running ones.

They run as Tenku's own user. PostgreSQL refuses to run as root, so where Tenku is root
both run as a uid of their own (just below the apps' uids) under bubblewrap, seeing the
system read-only and, of the data directory, only their own two directories.

Apps reach them over TLS on 127.0.0.1, with a certificate from Tenku's CA; the admin comes
through a unix socket in a 0700 directory, which the apps' uids cannot enter.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import psycopg
import redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.addons.catalog import CatalogError, load_catalog
from tenku.addons.servers import (
    AUTO,
    MANAGED,
    OPERATOR_POSTGRES_URL,
    OPERATOR_REDIS_URL,
    POSTGRES_ADMIN,
    REDIS_ADMIN,
    SOCKET_PATH_MAX,
    ServerFiles,
    managed_postgres_admin,
    postgres_made,
    postgres_socket,
    redis_admin_password,
    redis_made,
    redis_socket,
    server_files,
)
from tenku.children import die_with_parent
from tenku.config import Settings
from tenku.db.models import Addon
from tenku.runtime.sandbox import SYSTEM_DIRS, TOP_LEVEL, confine, write_identity
from tenku.runtime.worker import Supervisor, up_log
from tenku.tls import LOOPBACK, ensure_leaf, tls_files

START_TIMEOUT = 60.0
STOP_GRACE = 60.0
PG_ROOT = Path("/usr/lib/postgresql")
PG_HBA = """\
# Written by Tenku at every start of the server: changes here are lost.
# The admin: through the unix socket, whose directory only Tenku's user may enter.
local   all  all                     trust
# Apps: over TLS, with a password, never as the superuser.
hostssl all  {admin}  127.0.0.1/32   reject
hostssl all  {admin}  ::1/128        reject
hostssl all  all       127.0.0.1/32   scram-sha-256
hostssl all  all       ::1/128        scram-sha-256
"""


class ServerError(Exception):
    pass


class Jail:
    """How a managed server's processes run: as Tenku's user, or, where Tenku is root, as
    a uid of their own under bubblewrap."""

    def __init__(self, settings: Settings) -> None:
        self.confined = os.geteuid() == 0
        self.uid = settings.sandbox_uid_base - 1 if self.confined else os.geteuid()
        self.bwrap = shutil.which("bwrap")
        self.setpriv = shutil.which("setpriv")
        self.identity = settings.data_dir / "addon-servers" / "etc"

    @property
    def problem(self) -> str | None:
        if self.confined and (self.bwrap is None or self.setpriv is None):
            return (
                "Tenku runs as root, so its add-on servers run as a uid of their own under "
                "bubblewrap (bwrap) and util-linux's setpriv, which are not both installed"
            )
        return None

    def own(self, path: Path) -> None:
        """A directory of the server's (all of it, if it was someone else's before)."""
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.chmod(0o700)
        if self.confined and path.lstat().st_uid != self.uid:
            os.lchown(path, self.uid, self.uid)
            for top, dirs, files in os.walk(path):
                for name in dirs + files:
                    os.lchown(os.path.join(top, name), self.uid, self.uid)

    def give(self, *paths: Path) -> None:
        if self.confined:
            for path in paths:
                os.lchown(path, self.uid, self.uid)

    def command(
        self, argv: Sequence[str], files: ServerFiles, system: Sequence[Path] = ()
    ) -> list[str]:
        if not self.confined:
            return list(argv)
        assert self.bwrap is not None
        assert self.setpriv is not None
        write_identity(self.identity, self.uid, "tenku", "/nonexistent")
        return confine(
            argv,
            bwrap=self.bwrap,
            setpriv=self.setpriv,
            uid=self.uid,
            identity=self.identity,
            writable=[files.root, files.run],
            system=system,
            hostname=f"tenku-{files.name}",
            # PostgreSQL's shared memory tells it whether an old server still works here.
            own_ipc=False,
            extra=["--perms", "1777", "--tmpfs", "/dev/shm"],
        )


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def holders(directory: Path, binary: Path) -> list[tuple[int, int]]:
    """(pid, parent's pid) of the processes running `binary` in `directory`: a server and
    its children (a server works in its data directory). Found through /proc, whichever
    mount namespace they are in."""
    where, program = _identity(directory), _identity(binary)
    if where is None or program is None:
        return []
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _identity(Path(f"/proc/{pid}/cwd")) != where:
            continue
        if _identity(Path(f"/proc/{pid}/exe")) != program:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the fields after it do not.
        found.append((pid, int(stat.rpartition(")")[2].split()[1])))
    return found


def leaders(found: list[tuple[int, int]]) -> list[int]:
    pids = {pid for pid, _ in found}
    return [pid for pid, parent in found if parent not in pids]


def _signal(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class ManagedServer:
    name = ""
    title = ""
    # Apps' TLS port on 127.0.0.1.
    port = 0
    # Stops the server cleanly: it finishes writing and exits.
    stop_signal: int = signal.SIGTERM

    def __init__(self, settings: Settings, jail: Jail | None = None) -> None:
        self.settings = settings
        self.jail = jail or Jail(settings)
        self.files = server_files(settings.data_dir, self.name)
        self._lock: IO[str] | None = None
        self._supervisor: Supervisor | None = None

    # --- what each server says ------------------------------------------------------

    @property
    def binary(self) -> Path | None:
        raise NotImplementedError

    @property
    def problem(self) -> str | None:
        """Why this machine cannot run the server, if it cannot."""
        return self.jail.problem

    def made(self) -> bool:
        raise NotImplementedError

    def make(self) -> None:
        raise NotImplementedError

    def configure(self) -> None:
        """Before every start: its certificate, its settings."""
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def clear_stale(self) -> None:
        """Once nothing of an earlier server runs: what it left that would stop a new one."""

    @property
    def system(self) -> list[Path]:
        """Directories the server's programs need, besides the system's."""
        binary = self.binary
        if binary is None:
            return []
        folder = binary.parent
        inside = (*SYSTEM_DIRS, *TOP_LEVEL)
        if any(folder == Path(d) or Path(d) in folder.parents for d in inside):
            return []
        return [folder]

    # --- lifecycle --------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> bool:
        """Start the server (made the first time) and wait until it answers. False when
        another Tenku process of this data directory runs it already."""
        problem = self.problem
        if problem is not None:
            raise ServerError(f"{self.title} cannot run here: {problem}.")
        self.files.private.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = self.files.lock.open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            self._wait_ready(timeout)
            return False
        self._lock = lock
        try:
            self._check_socket_room()
            self.jail.own(self.files.root)
            self.jail.own(self.files.run)
            self._stop_leftovers()
            if not self.made():
                self.make()
            self.configure()
            self._supervisor = Supervisor(
                self.settings, self._spawn, name=self.title, stopper=self._stop_process
            )
            self._supervisor.start()
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return True

    def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.stop(grace=STOP_GRACE)
            self._supervisor = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _check_socket_room(self) -> None:
        socket = self.socket
        if len(str(socket).encode()) > SOCKET_PATH_MAX:
            raise ServerError(
                f"{self.title} cannot listen on {socket}: a unix socket's path may have "
                f"{SOCKET_PATH_MAX} bytes at most. Use a data directory with a shorter path."
            )

    @property
    def socket(self) -> Path:
        raise NotImplementedError

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.files.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise ServerError(
                    f"{self.title} did not answer within {timeout:.0f} s; the end of "
                    f"{self.files.log}:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def _holders(self) -> list[tuple[int, int]]:
        binary = self.binary
        return holders(self.files.data, binary) if binary is not None else []

    def _stop_leftovers(self) -> None:
        found = self._holders()
        if found:
            up_log.warning(
                "%s left running by an earlier Tenku (pids %s): stopping it",
                self.title,
                ", ".join(str(pid) for pid, _ in found),
            )
            _signal(leaders(found), self.stop_signal)
            deadline = time.monotonic() + STOP_GRACE
            while self._holders() and time.monotonic() < deadline:
                time.sleep(0.1)
            for _ in range(50):
                rest = self._holders()
                if not rest:
                    break
                _signal([pid for pid, _ in rest], signal.SIGKILL)
                time.sleep(0.1)
        self.clear_stale()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._stop_leftovers()
        with self.files.log.open("ab") as out:
            return subprocess.Popen(
                self.jail.command(self.command(), self.files, self.system),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own group: a ^C meant for `tenku up` does not stop it before the
                # dynos that use it.
                process_group=0,
                preexec_fn=functools.partial(die_with_parent, self.stop_signal),  # noqa: PLW1509
            )

    def _stop_process(self, proc: subprocess.Popen[bytes], grace: float) -> None:
        if proc.poll() is None:
            if self.jail.confined:
                # bubblewrap's own process would take the server down without a clean stop.
                targets = leaders(self._holders())
                _signal(targets, self.stop_signal)
                if not targets:
                    proc.terminate()
            else:
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _signal([pid for pid, _ in self._holders()], signal.SIGKILL)


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)


def postgres_programs(settings: Settings, files: ServerFiles) -> Path | None:
    """The directory of initdb and postgres: the operator's, the one of the major version
    the cluster was made with, else the newest the distribution installed, else PATH's."""
    if settings.addon_postgres_bin is not None:
        return settings.addon_postgres_bin
    try:
        made_with = (files.data / "PG_VERSION").read_text().strip()
    except OSError:
        made_with = None

    def complete(folder: Path) -> bool:
        return all(os.access(folder / name, os.X_OK) for name in ("initdb", "postgres"))

    if made_with is not None:
        folder = PG_ROOT / made_with / "bin"
        return folder if complete(folder) else None
    for folder in sorted(PG_ROOT.glob("*/bin"), key=_version_key, reverse=True):
        if complete(folder):
            return folder
    found = shutil.which("postgres")
    if found is not None and complete(Path(found).parent):
        return Path(found).parent
    return None


class ManagedPostgres(ManagedServer):
    name = "postgres"
    title = "the managed PostgreSQL"
    # Fast shutdown: clients are disconnected, everything is written, the server exits.
    stop_signal = signal.SIGINT

    def __init__(self, settings: Settings, jail: Jail | None = None) -> None:
        super().__init__(settings, jail)
        self.port = settings.addon_postgres_port
        self.programs = postgres_programs(settings, self.files)

    @property
    def binary(self) -> Path | None:
        return self.programs / "postgres" if self.programs is not None else None

    @property
    def socket(self) -> Path:
        return postgres_socket(self.files, self.port)

    @property
    def problem(self) -> str | None:
        if self.programs is None:
            if (self.files.data / "PG_VERSION").exists():
                version = (self.files.data / "PG_VERSION").read_text().strip()
                return (
                    f"its cluster was made by PostgreSQL {version}, whose programs are not in "
                    f"{PG_ROOT / version / 'bin'} (install them, or set TENKU_ADDON_POSTGRES_BIN)"
                )
            return (
                f"no PostgreSQL server programs (initdb, postgres) in {PG_ROOT}/*/bin or on "
                "PATH (install the distribution's postgresql package, or set "
                "TENKU_ADDON_POSTGRES_BIN)"
            )
        return super().problem

    def made(self) -> bool:
        return postgres_made(self.files)

    def make(self) -> None:
        assert self.programs is not None
        # initdb works on a directory of its own name: a half-made cluster is never taken
        # for a made one.
        staging = self.files.root / "data.new"
        shutil.rmtree(staging, ignore_errors=True)
        argv = [
            str(self.programs / "initdb"),
            "--pgdata",
            str(staging),
            "--username",
            POSTGRES_ADMIN,
            "--encoding",
            "UTF8",
            "--no-locale",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ]
        done = subprocess.run(
            self.jail.command(argv, self.files, self.system),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise ServerError(f"initdb failed:\n{done.stdout}{done.stderr}")
        staging.rename(self.files.data)
        up_log.info("made the managed PostgreSQL cluster in %s", self.files.data)

    def configure(self) -> None:
        self.jail.own(self.files.cert.parent)
        ensure_leaf(self.settings, self.files.cert, self.files.key, list(LOOPBACK))
        hba = self.files.root / "pg_hba.conf"
        hba.write_text(PG_HBA.format(admin=POSTGRES_ADMIN))
        self.jail.give(self.files.cert, self.files.key, hba)

    def command(self) -> list[str]:
        assert self.programs is not None
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.files.run),
            "unix_socket_permissions": "0700",
            "hba_file": str(self.files.root / "pg_hba.conf"),
            "ssl": "on",
            "ssl_cert_file": str(self.files.cert),
            "ssl_key_file": str(self.files.key),
            "ssl_min_protocol_version": "TLSv1.2",
            "password_encryption": "scram-sha-256",
        }
        argv = [str(self.programs / "postgres"), "-D", str(self.files.data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return argv

    def ready(self) -> bool:
        try:
            with psycopg.connect(managed_postgres_admin(self.settings), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def clear_stale(self) -> None:
        # Its pid may belong to another process by now, which would make postgres refuse.
        (self.files.data / "postmaster.pid").unlink(missing_ok=True)


class ManagedRedis(ManagedServer):
    name = "redis"
    title = "the managed Redis"
    # Redis saves its data and exits.
    stop_signal = signal.SIGTERM

    def __init__(self, settings: Settings, jail: Jail | None = None) -> None:
        super().__init__(settings, jail)
        self.port = settings.addon_redis_port
        # By this name: Debian's redis-check-rdb is the same program, and argv[0] says which.
        found = shutil.which("redis-server")
        self.program = Path(found) if found else None

    @property
    def binary(self) -> Path | None:
        return self.program

    @property
    def socket(self) -> Path:
        return redis_socket(self.files)

    @property
    def problem(self) -> str | None:
        if self.program is None:
            return "redis-server is not installed"
        return super().problem

    @property
    def acl(self) -> Path:
        return self.files.data / "users.acl"

    def made(self) -> bool:
        return redis_made(self.files)

    def make(self) -> None:
        self.jail.own(self.files.data)
        self._write_acl([])

    def _write_acl(self, kept: list[str]) -> None:
        """The admin and a `default` user that is off come first, then the add-ons' users.
        Without a `default` line, Redis would let anyone in as a user that may do anything."""
        password = redis_admin_password(self.files, create=True) or ""
        digest = hashlib.sha256(password.encode()).hexdigest()
        lines = [
            "user default off nopass resetchannels -@all",
            f"user {REDIS_ADMIN} on #{digest} ~* &* +@all",
            *kept,
        ]
        staged = self.acl.with_name(".users.acl.new")
        staged.write_text("\n".join(lines) + "\n")
        self.jail.give(staged)
        staged.replace(self.acl)

    def configure(self) -> None:
        self.jail.own(self.files.data)
        self.jail.own(self.files.cert.parent)
        kept = [
            line
            for line in self.acl.read_text().splitlines()
            if line.strip() and not line.startswith(("user default ", f"user {REDIS_ADMIN} "))
        ]
        self._write_acl(kept)
        ensure_leaf(self.settings, self.files.cert, self.files.key, list(LOOPBACK))
        ca = self.files.cert.with_name("ca.pem")
        shutil.copyfile(tls_files(self.settings.data_dir).ca_cert, ca)
        self.jail.give(self.files.cert, self.files.key, ca)

    def command(self) -> list[str]:
        assert self.program is not None
        return [
            str(self.program),
            "--bind",
            "127.0.0.1",
            # No plain TCP: apps come over TLS, the admin through the socket.
            "--port",
            "0",
            "--tls-port",
            str(self.port),
            "--tls-cert-file",
            str(self.files.cert),
            "--tls-key-file",
            str(self.files.key),
            "--tls-ca-cert-file",
            str(self.files.cert.with_name("ca.pem")),
            "--tls-auth-clients",
            "no",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.files.data),
            "--aclfile",
            str(self.acl),
            "--appendonly",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]

    def ready(self) -> bool:
        password = redis_admin_password(self.files)
        try:
            with redis.Redis(
                unix_socket_path=str(self.socket),
                username=REDIS_ADMIN,
                password=password,
                socket_timeout=2,
                socket_connect_timeout=2,
            ) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


async def providers_in_use(db: AsyncSession, settings: Settings) -> set[str]:
    """The providers some add-on was made with (`postgresql`, `redis`...)."""
    try:
        catalog = load_catalog(settings.addon_catalog or settings.data_dir / "addons")
    except CatalogError:
        catalog = load_catalog(None)
    slugs = (await db.execute(select(Addon.service).distinct())).scalars()
    return {catalog.services[slug].provider for slug in slugs if slug in catalog.services}


class AddonServers:
    """The managed servers one `tenku up` runs."""

    def __init__(self, settings: Settings, servers: Sequence[ManagedServer]) -> None:
        self.settings = settings
        self.servers = list(servers)
        # What the API workers and the runtime are told: `managed` or the operator's URL.
        self.env: dict[str, str] = {}

    @classmethod
    def choose(cls, settings: Settings, in_use: set[str]) -> AddonServers:
        """`managed` servers, and `auto` ones where this machine can run them and no add-on
        lives on the operator's default server already (its add-ons stay where they are)."""
        jail = Jail(settings)
        chosen: list[ManagedServer] = []
        env: dict[str, str] = {}
        for variable, value, server, provider, operator in (
            (
                "TENKU_ADDON_POSTGRES_URL",
                settings.addon_postgres_url,
                ManagedPostgres(settings, jail),
                "postgresql",
                OPERATOR_POSTGRES_URL,
            ),
            (
                "TENKU_ADDON_REDIS_URL",
                settings.addon_redis_url,
                ManagedRedis(settings, jail),
                "redis",
                OPERATOR_REDIS_URL,
            ),
        ):
            wanted = value == MANAGED or (
                value == AUTO
                and (server.made() or (server.problem is None and provider not in in_use))
            )
            if wanted:
                chosen.append(server)
            env[variable] = MANAGED if wanted else operator if value == AUTO else value
        servers = cls(settings, chosen)
        servers.env = env
        return servers

    def start(self) -> None:
        started: list[ManagedServer] = []
        try:
            for server in self.servers:
                server.start()
                started.append(server)
        except BaseException:
            for server in reversed(started):
                server.stop()
            raise

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def describe(self) -> list[str]:
        return [
            f"{server.title}: 127.0.0.1:{server.port} (TLS), data in {server.files.root}"
            for server in self.servers
        ]
