"""Every build step and every dyno in a sandbox: namespaces, an app's own uid, a cgroup.

bubblewrap (`bwrap`) makes the namespaces: a mount namespace in which the system is
read-only (`/usr`, the interpreters Tenku found, the parts of `/etc` a program needs and no
more), the build's or dyno's own directory is the one writable place, and `/tmp` is
private; its own pid namespace (with its own `/proc`, so no other process's environment or
files are in view), and its own IPC and UTS namespaces. Inside it the command runs as the
app's uid (allocated once per app, never root, never Tenku's), with no capabilities and
`no_new_privs`. Around it a cgroup holds the size's memory, process and CPU limits
(`cgroups.py`).

Tenku's data directory is not in view at all: not its secret key, its CA, its database,
nor any other app's files. A dyno shares the host's network stack, where `netfilter.py`
decides by uid what it may connect to: the internet, Tenku's public listeners and its
add-on servers, not other dynos, not the machine's other services, not the private
networks around it (see docs/sandbox.md).

Signals: bwrap's own process dies on SIGTERM and takes the sandbox down with it
(`--die-with-parent`), so a graceful stop signals the processes inside (every member of
the group but bwrap's); SIGKILL goes to all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import random
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from tenku.addons.servers import postgres_endpoint, redis_endpoint
from tenku.config import Settings
from tenku.egress import EgressPolicy
from tenku.runtime import cgroups, procs, untar
from tenku.runtime.netfilter import NetFilter, PortRange, Reach

log = logging.getLogger("tenku.runtime.sandbox")

# Merged-/usr systems have these as symlinks into /usr; older ones as directories.
TOP_LEVEL = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_DIRS = ("/usr", "/opt")
# What programs read from /etc; the rest (shadow, ssh host keys, server configs) stays out.
ETC = (
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "gai.conf",
    "gitconfig",
    "host.conf",
    "hosts",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "mime.types",
    "networks",
    "npmrc",
    "nsswitch.conf",
    "os-release",
    "pip.conf",
    "profile",
    "protocols",
    "python3",
    "python3.11",
    "resolv.conf",
    "services",
    "shells",
    "ssl",
    "terminfo",
    "timezone",
    "xdg",
)
# Programs whose installation prefix the sandbox shows when it lies outside /usr.
INTERPRETERS = ("python3", "node", "npm", "git", "bash")
USER = "dyno"
JOIN = (
    'umask 022; while [ "$1" != -- ]; do echo $$ >"$1" || exit 125; shift; done; shift; exec "$@"'
)


class SandboxError(Exception):
    pass


def _prefix(executable: str) -> Path | None:
    real = Path(os.path.realpath(executable))
    prefix = real.parent.parent
    if any(prefix == Path(d) or Path(d) in prefix.parents for d in (*SYSTEM_DIRS, *TOP_LEVEL)):
        return None
    if prefix == Path("/"):
        return None
    return prefix


def interpreter_paths(extra: Sequence[Path] = ()) -> tuple[Path, ...]:
    """Read-only directories beside the system: the interpreters' prefixes, Tenku's own
    Python's, and what the operator listed."""
    found: list[Path] = []
    candidates = [getattr(sys, "_base_executable", None) or sys.executable]
    candidates += [p for name in INTERPRETERS if (p := shutil.which(name))]
    for exe in candidates:
        prefix = _prefix(exe)
        if prefix is not None and prefix.is_dir() and prefix not in found:
            found.append(prefix)
    found += [p for p in extra if p.is_dir() and p not in found]
    # A directory inside another one shown already is shown with it.
    return tuple(p for p in found if not any(q in p.parents for q in found))


def _children(pid: int) -> list[int]:
    try:
        raw = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in raw.split()]


@dataclass
class Box:
    """What a sandboxed process is: its process group, its bwrap, its cgroup."""

    group: cgroups.Group | None = None
    # Whether the process runs under bwrap (whose own process must not get SIGTERM).
    sandboxed: bool = False
    pgid: int | None = None
    outer: int | None = None
    oom_reported: bool = False

    def started(self, pid: int) -> None:
        self.pgid = pid
        self.outer = pid if self.sandboxed else None

    def terminate(self) -> None:
        """SIGTERM every process of the build or dyno."""
        if self.pgid is None:
            return
        if self.outer is None:
            procs.kill_group(self.pgid, signal.SIGTERM)
            return
        # bwrap's init in the sandbox is spared too: it ends when the command does.
        spare = frozenset({self.outer, *_children(self.outer)})
        if self.group is not None:
            # Nothing leaves its cgroup (the app's uid cannot write another's), so its
            # member list is the whole dyno: no scan of the machine's processes.
            self.group.signal(signal.SIGTERM, spare)
            return
        for pid in procs.group_pids(self.pgid):
            if pid not in spare:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL every process of the build or dyno.

        Under bwrap its own process is spared while it still has a child: it reaps the
        sandbox's init and exits by itself, so no orphan is left for the machine's init.
        """
        if self.pgid is None:
            if self.group is not None:
                self.group.kill()
            return
        if self.outer is None:
            procs.kill_group(self.pgid)
            if self.group is not None:
                self.group.kill()
            return
        spare = frozenset({self.outer})
        if self.group is not None:
            self.group.kill(spare)
        else:
            for pid in procs.group_pids(self.pgid):
                if pid not in spare:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
        if not _children(self.outer):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self.outer, signal.SIGKILL)

    def memory(self) -> cgroups.Memory:
        if self.group is not None:
            return self.group.memory()
        if self.pgid is None:
            return cgroups.Memory(0, 0, 0)
        return cgroups.Memory(procs.group_rss(self.pgid), 0, procs.group_swap(self.pgid))

    def oom_kills(self) -> int:
        return self.group.oom_kills() if self.group is not None else 0

    def close(self) -> None:
        """After the process has ended: nothing of it left running, its cgroup gone."""
        self.kill()
        if self.group is not None:
            self.group.remove()


# Where builds are told to fetch packages through (a proxy, an index): opened like the
# registries. These reach build steps from Tenku's environment (builder.PASSTHROUGH).
FETCH_URL_VARIABLES = (
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "npm_config_registry",
    "NPM_CONFIG_REGISTRY",
)
SCHEME_PORTS = {"http": 80, "https": 443, "socks5": 1080, "socks5h": 1080}


def _endpoints(entry: str) -> tuple[str, tuple[int, ...]] | None:
    """The host and ports of a registry entry: a URL, `host:port` or a host (HTTP and
    HTTPS)."""
    if "://" in entry:
        parts = urlsplit(entry)
        default = SCHEME_PORTS.get(parts.scheme)
        if not parts.hostname or default is None:
            return None
        return parts.hostname, (parts.port or default,)
    parts = urlsplit("//" + entry)
    if not parts.hostname:
        return None
    return parts.hostname, (parts.port,) if parts.port else (80, 443)


def _resolved(host: str, ports: Sequence[int]) -> set[tuple[str, int]]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        log.warning("%s not opened to sandboxed code: %s", host, exc)
        return set()
    return {(str(info[4][0]), port) for info in infos for port in ports}


def reach_of(settings: Settings) -> Reach:
    """What sandboxed code may connect to besides the internet: Tenku's public listeners,
    the add-on servers and package registries (their addresses as resolved now), the
    operator's private networks."""
    listeners = (
        settings.port,
        settings.http_port,
        settings.router_port,
        settings.router_https_port,
        settings.rendezvous_port,
    )
    entries = [
        *settings.sandbox_registries,
        *(
            url
            for name in FETCH_URL_VARIABLES
            for url in os.environ.get(name, "").split()
            if "://" in url
        ),
    ]
    services: set[tuple[str, int]] = set()
    for endpoint in (postgres_endpoint, redis_endpoint):
        with contextlib.suppress(ValueError, psycopg.Error):
            public = endpoint(settings).public
            if not public.host.startswith("/"):
                services |= _resolved(public.host, (public.port,))
    for entry in entries:
        try:
            found = _endpoints(entry)
        except ValueError:
            found = None
        if found is None:
            log.warning("%r is neither a URL nor a host: not opened to sandboxed code", entry)
            continue
        services |= _resolved(*found)
    return Reach(
        listeners=tuple(p for p in listeners if p),
        services=tuple(sorted(services)),
        networks=EgressPolicy.of(settings).networks,
    )


def write_identity(directory: Path, uid: int, user: str, home: str) -> None:
    """/etc/passwd and /etc/group as a confined process sees them: root, its user, nobody."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "passwd").write_text(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{user}:x:{uid}:{uid}:{user}:{home}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (directory / "group").write_text(f"root:x:0:\n{user}:x:{uid}:\nnogroup:x:65534:\n")
    for f in (directory / "passwd", directory / "group"):
        f.chmod(0o644)


def confine(
    argv: Sequence[str],
    *,
    bwrap: str,
    setpriv: str,
    uid: int,
    identity: Path,
    writable: Sequence[Path],
    readable: Sequence[Path] = (),
    system: Sequence[Path] = (),
    cwd: Path | None = None,
    hostname: str = "dyno",
    own_ipc: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """`argv` under bubblewrap as `uid`: the system (and `system`) read-only, `/etc` pared
    down (with `identity`'s passwd and group), only `readable` and `writable` of the rest, its
    own pid namespace, no capabilities. `extra` bwrap arguments come after `/proc`, `/dev`
    and the private `/tmp`; `own_ipc=False` keeps the host's System V IPC (a server's shared
    memory interlock must see its predecessor's)."""
    args = [bwrap, "--die-with-parent", "--unshare-pid"]
    if own_ipc:
        args.append("--unshare-ipc")
    args += ["--unshare-uts", "--unshare-cgroup-try", "--hostname", hostname[:63]]
    for top in TOP_LEVEL:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for d in SYSTEM_DIRS:
        args += ["--ro-bind-try", d, d]
    made: set[Path] = set()

    def parents_of(path: Path) -> list[str]:
        # bwrap would make missing parents mode 0700 (root's), which the confined uid
        # could not pass through.
        out: list[str] = []
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in made:
                made.add(parent)
                out += ["--perms", "0755", "--dir", str(parent)]
        return out

    args += parents_of(Path("/etc/x"))
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind", str(identity / "passwd"), "/etc/passwd"]
    args += ["--ro-bind", str(identity / "group"), "/etc/group"]
    for p in system:
        args += [*parents_of(p), "--ro-bind", str(p), str(p)]
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += [*parents_of(Path("/var/tmp")), "--perms", "1777", "--tmpfs", "/var/tmp"]
    args += ["--perms", "1777", "--tmpfs", "/tmp"]
    made.add(Path("/tmp"))
    args += extra
    for p in readable:
        args += [*parents_of(p), "--ro-bind", str(p), str(p)]
    for p in writable:
        args += [*parents_of(p), "--bind", str(p), str(p)]
    if cwd is not None:
        args += ["--chdir", str(cwd)]
    return [
        *args,
        "--",
        setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--no-new-privs",
        "--",
        *argv,
    ]


class Sandbox:
    """The runtime's one sandbox maker; `enabled` is False where it cannot (or may not) run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.mode = settings.sandbox
        self.state_dir = settings.data_dir / "sandbox"
        self.bwrap = shutil.which("bwrap")
        self.setpriv = shutil.which("setpriv")
        self.root = os.geteuid() == 0
        self.problems: list[str] = []
        self.cgroups: cgroups.Layout | None = None
        if self.mode == "off":
            self.enabled = False
            return
        if self.bwrap is None:
            self.problems.append("bubblewrap (bwrap) is not installed")
        if not self.root:
            self.problems.append(
                "Tenku does not run as root, so it cannot give each app a uid of its own"
            )
        elif self.setpriv is None:
            self.problems.append("util-linux's setpriv is not installed")
        installation = str(settings.data_dir.resolve())
        self.ports = PortRange.parse(settings.sandbox_ports)
        self.netfilter = NetFilter(installation, self.ports)
        if not self.problems:
            with contextlib.suppress(OSError):
                self.cgroups = cgroups.detect(installation)
            if self.cgroups is None:
                self.problems.append("no cgroup memory and pids controllers can be written")
        if not self.problems and self.netfilter.nft is None:
            self.problems.append("nftables (nft) is not installed")
        self.enabled = not self.problems
        self.paths = interpreter_paths(settings.sandbox_paths) if self.enabled else ()
        # What unpacks user data inside the sandbox: Tenku's interpreter and untar's text.
        self._python = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
        self._untar_script = Path(untar.__file__).read_text() if self.enabled else ""
        self._uids: dict[str, int] = {}
        self._next = settings.sandbox_uid_base
        if self.enabled:
            self._load_uids()

    @property
    def description(self) -> str:
        if self.mode == "off":
            return "off (TENKU_SANDBOX=off): builds and dynos run as Tenku's own user, unconfined"
        if not self.enabled:
            return "unavailable: " + "; ".join(self.problems)
        assert self.cgroups is not None
        ports = f"{self.ports.low}-{self.ports.high}"
        return (
            f"bubblewrap, a uid per app, {self.cgroups.description}, "
            f"apps reach the internet, Tenku's listeners and add-on servers, not dyno ports "
            f"{ports} nor the machine's other services (nftables)"
        )

    @property
    def refuses_shared_use(self) -> bool:
        """The sandbox cannot run and the operator has not turned it off: builds and dynos
        run only while a single account exists."""
        return self.mode == "auto" and not self.enabled

    @property
    def refusal(self) -> str:
        return (
            f"Tenku's sandbox is unavailable ({'; '.join(self.problems)}), so builds and dynos "
            "run only while one account exists. The operator can set TENKU_SANDBOX=off to run "
            "them unconfined (unsafe between users)."
        )

    # --- uids -----------------------------------------------------------------------

    def _load_uids(self) -> None:
        self.state_dir.mkdir(mode=0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            data = json.loads((self.state_dir / "uids.json").read_text())
            self._uids = {str(k): int(v) for k, v in data.get("apps", {}).items()}
            self._next = max(int(data.get("next", self._next)), self._next)

    def uid_for(self, app_id: uuid.UUID) -> int:
        """The app's own uid: allocated once, never reused for another app (not even after
        the app is deleted, since files or processes of it could outlive it)."""
        key = str(app_id)
        uid = self._uids.get(key)
        if uid is not None:
            return uid
        # A second runtime of the same data directory may run builds: allocate under a lock.
        with open(self.state_dir / "uids.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._load_uids()
            uid = self._uids.get(key)
            if uid is None:
                uid = self._next
                # The network rule judges the uid before anything runs as it.
                problem = self.netfilter.admit(uid)
                if problem is not None:
                    raise SandboxError(problem)
                self._next += 1
                self._uids[key] = uid
                path = self.state_dir / "uids.json"
                staged = path.with_suffix(".tmp")
                staged.write_text(json.dumps({"next": self._next, "apps": self._uids}))
                staged.replace(path)
        self._write_identity(uid)
        return uid

    def _identity_dir(self, uid: int) -> Path:
        return self.state_dir / "etc" / str(uid)

    def _write_identity(self, uid: int) -> None:
        write_identity(self._identity_dir(uid), uid, USER, "/app")

    # --- directories ------------------------------------------------------------------

    def own_dir(self, path: Path, uid: int | None) -> None:
        """A fresh directory the sandboxed user owns (just this directory, nothing below)."""
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.enabled and uid is not None:
            os.chown(path, uid, uid)

    def own_tree(self, path: Path, uid: int | None) -> None:
        """Hand a tree Tenku prepared to the app's uid. Only called while nothing of the app
        runs, and never follows a link, so a link in it cannot redirect a chown."""
        if not self.enabled or uid is None:
            return
        os.lchown(path, uid, uid)
        for top, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(top, name), uid, uid)

    # --- commands ---------------------------------------------------------------------

    def group(self, name: str, limits: cgroups.Limits) -> cgroups.Group | None:
        if not self.enabled or self.cgroups is None:
            return None
        return self.cgroups.create(name, limits)

    def start(self) -> None:
        """At the runtime's start: the network rule in place (or the sandbox off, saying why)."""
        if not self.enabled:
            return
        self.netfilter.reach = reach_of(self.settings)
        with open(self.state_dir / "uids.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._load_uids()
            problem = self.netfilter.install(self._uids.values())
        if problem is not None:
            self.problems.append(problem)
            self.enabled = False
            log.error("sandbox unavailable: %s", problem)

    def stop(self) -> None:
        if self.enabled:
            self.netfilter.remove()

    def port(self, host: str) -> int:
        """A free port of the dynos' range for a dyno's $PORT."""
        for _ in range(200):
            port = random.randint(self.ports.low, self.ports.high)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
        raise SandboxError(f"no free port in {self.ports.low}-{self.ports.high}")

    def clear(self) -> int:
        """At the runtime's start: what an earlier runtime left in its cgroups."""
        return self.cgroups.clear() if self.cgroups is not None else 0

    def command(
        self,
        argv: Sequence[str],
        *,
        uid: int | None,
        writable: Sequence[Path],
        readable: Sequence[Path] = (),
        cwd: Path | None = None,
        group: cgroups.Group | None = None,
        hostname: str | None = None,
    ) -> list[str]:
        """`argv` as it runs in the sandbox (unchanged where the sandbox is off)."""
        if not self.enabled or uid is None:
            return list(argv)
        assert self.bwrap is not None
        assert self.setpriv is not None
        identity = self._identity_dir(uid)
        if not (identity / "passwd").exists():
            self._write_identity(uid)
        args = confine(
            argv,
            bwrap=self.bwrap,
            setpriv=self.setpriv,
            uid=uid,
            identity=identity,
            writable=writable,
            readable=readable,
            system=self.paths,
            cwd=cwd,
            hostname=hostname or "dyno",
        )
        # The process joins its cgroup before bwrap starts, so nothing it forks escapes; the
        # umask is the usual one again (Tenku's own keeps its files private).
        files = [str(f) for f in group.procs_files] if group is not None else []
        return ["/bin/sh", "-c", JOIN, "sandbox", *files, "--", *args]

    # --- unpacking ----------------------------------------------------------------------

    async def unpack(
        self, tarball: Path, dest: Path, limits: untar.Limits, *, uid: int | None
    ) -> None:
        """Unpack user data into `dest`: inside the sandbox as the app's uid where there is
        one, Tenku's own checks and limits applying there too; in-process otherwise."""
        if not self.enabled or uid is None:
            await asyncio.to_thread(untar.unpack, tarball, dest, limits)
            return
        self.own_dir(dest, uid)
        script = self._untar_script
        python = self._python
        request = json.dumps(
            {
                "max_bytes": limits.max_bytes,
                "max_members": limits.max_members,
                "absolute_links": limits.absolute_links,
                "prefix": limits.prefix,
            }
        )
        argv = self.command(
            [python, "-I", "-S", "-c", script, str(dest), request],
            uid=uid,
            writable=[dest],
        )
        with tarball.open("rb") as source:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=source,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        try:
            _, err = await proc.communicate()
        finally:
            procs.kill_group(proc.pid)
        untar.read_outcome(proc.returncode or 0, err)
