"""Resource limits for one build or dyno: a cgroup of its own.

Two layouts exist in the wild and both are handled: the unified tree (cgroup v2:
`memory.max`, `pids.max`, `cpu.weight`, `memory.events`, `cgroup.kill`) and the v1/hybrid
layout, a hierarchy per controller (`memory.limit_in_bytes`, `pids.max`, `cpu.shares`,
`memory.oom_control`). Tenku's groups sit below the cgroup the runtime itself is in, so a
machine's own delegation (a container's, a service manager's) is respected; each
installation keeps its groups under one parent named for its data directory, which lets a
restarted runtime remove what an earlier one left.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")


@dataclass(frozen=True)
class Limits:
    # The hard limit: the kernel's OOM killer acts at it (R15).
    memory_bytes: int
    pids: int
    # Relative CPU share; 1024 is one standard dyno's (v1 cpu.shares' scale).
    cpu_shares: int = 1024


@dataclass(frozen=True)
class Memory:
    rss: int
    cache: int
    swap: int


def _own_paths() -> dict[str, str]:
    """controller (or "" for the unified tree) -> this process's cgroup path."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read_stat(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[key] = int(value)
    return out


def _rmdir_tree(path: Path) -> None:
    """Remove a cgroup directory and its children, deepest first (their files go with them)."""
    if not path.is_dir():
        return
    for child in sorted((p for p in path.iterdir() if p.is_dir()), reverse=True):
        _rmdir_tree(child)
    with contextlib.suppress(OSError):
        path.rmdir()


def _pids_in(path: Path) -> list[int]:
    pids: list[int] = []
    for procs in path.rglob("cgroup.procs"):
        with contextlib.suppress(OSError, ValueError):
            pids += [int(x) for x in procs.read_text().split()]
    return pids


class Group:
    """One build's or dyno's cgroup (in every hierarchy the layout needs)."""

    def __init__(self, layout: Layout, dirs: dict[str, Path]) -> None:
        self.layout = layout
        self.dirs = dirs

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def _memory_dir(self) -> Path:
        return self.dirs["memory"] if "memory" in self.dirs else self.dirs[""]

    def pids(self) -> list[int]:
        # Tenku makes no groups below this one, and the app's uid cannot.
        procs = next(iter(self.dirs.values())) / "cgroup.procs"
        try:
            return [int(x) for x in procs.read_text().split()]
        except (OSError, ValueError):
            return []

    def memory(self) -> Memory:
        stat = _read_stat(self._memory_dir() / "memory.stat")
        if self.layout.v2:
            swap = 0
            with contextlib.suppress(OSError, ValueError):
                swap = int((self._memory_dir() / "memory.swap.current").read_text())
            return Memory(stat.get("anon", 0), stat.get("file", 0), swap)
        return Memory(
            stat.get("total_rss", 0), stat.get("total_cache", 0), stat.get("total_swap", 0)
        )

    def oom_kills(self) -> int:
        name = "memory.events" if self.layout.v2 else "memory.oom_control"
        return _read_stat(self._memory_dir() / name).get("oom_kill", 0)

    def signal(self, sig: int, spare: frozenset[int] = frozenset()) -> None:
        for pid in self.pids():
            if pid not in spare:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)

    def kill(self, spare: frozenset[int] = frozenset()) -> None:
        """SIGKILL every process in the group but `spare`, until none is left."""
        kill_file = self.dirs.get("", Path("/nonexistent")) / "cgroup.kill"
        if self.layout.v2 and not spare and kill_file.exists():
            with contextlib.suppress(OSError):
                _write(kill_file, "1")
                return
        # v1 has no atomic kill; a forking process is outrun by repeating until empty.
        for _ in range(50):
            pids = [pid for pid in self.pids() if pid not in spare]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        for d in self.dirs.values():
            _rmdir_tree(d)


class Layout:
    """Where this installation's groups live, and how to make one."""

    def __init__(self, parents: dict[str, Path], v2: bool) -> None:
        self.parents = parents
        self.v2 = v2

    @property
    def description(self) -> str:
        return "cgroup v2" if self.v2 else "cgroup v1 (" + ", ".join(sorted(self.parents)) + ")"

    def create(self, name: str, limits: Limits) -> Group:
        dirs: dict[str, Path] = {}
        for controller, parent in self.parents.items():
            path = parent / name
            with contextlib.suppress(FileExistsError):
                path.mkdir(parents=True)
            dirs[controller] = path
        group = Group(self, dirs)
        if self.v2:
            d = dirs[""]
            _write(d / "memory.max", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(d / "memory.swap.max", "0")
            _write(d / "pids.max", str(limits.pids))
            # cpu.weight's default is 100 where cpu.shares' is 1024.
            weight = max(1, min(10000, limits.cpu_shares * 100 // 1024))
            with contextlib.suppress(OSError):
                _write(d / "cpu.weight", str(weight))
        else:
            _write(dirs["memory"] / "memory.limit_in_bytes", str(limits.memory_bytes))
            with contextlib.suppress(OSError):
                _write(dirs["memory"] / "memory.swappiness", "0")
            _write(dirs["pids"] / "pids.max", str(limits.pids))
            if "cpu" in dirs:
                _write(dirs["cpu"] / "cpu.shares", str(max(2, limits.cpu_shares)))
        return group

    def clear(self) -> int:
        """Kill whatever an earlier runtime left in this installation's groups; remove them."""
        killed = 0
        for parent in self.parents.values():
            for pid in _pids_in(parent) if parent.is_dir() else []:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        if killed:
            time.sleep(0.1)
        for parent in self.parents.values():
            for child in list(parent.iterdir()) if parent.is_dir() else []:
                if child.is_dir():
                    _rmdir_tree(child)
        return killed


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def detect(installation: str, root: Path = ROOT) -> Layout | None:
    """This machine's cgroup layout, with a parent for `installation` made ready; None
    where groups cannot be made (no controllers, or no right to write them)."""
    tag = "tenku-" + hashlib.sha256(installation.encode()).hexdigest()[:12]
    own = _own_paths()
    unified = root / "cgroup.controllers"
    if unified.exists():
        return _detect_v2(root, own.get("", "/"), tag)
    parents: dict[str, Path] = {}
    for controller in V1_CONTROLLERS:
        mount = root / controller
        if not (mount / "cgroup.procs").exists():
            if controller == "cpu":
                continue
            return None
        base = mount / own.get(controller, "/").lstrip("/")
        if not _writable(base):
            base = mount
        if not _writable(base):
            return None
        parents[controller] = base / tag
    try:
        for parent in parents.values():
            parent.mkdir(exist_ok=True)
    except OSError:
        return None
    return Layout(parents, v2=False)


def _detect_v2(root: Path, own: str, tag: str) -> Layout | None:
    wanted = {"memory", "pids"}
    # The root may hold processes and still delegate; elsewhere the "no internal
    # processes" rule means Tenku's parent must be a sibling of the runtime's own group.
    candidates = [root]
    if own not in ("", "/"):
        candidates.insert(0, (root / own.lstrip("/")).parent)
    for base in candidates:
        try:
            available = set((base / "cgroup.controllers").read_text().split())
            if not wanted <= available or not _writable(base):
                continue
            enable = " ".join(f"+{c}" for c in ("memory", "pids", "cpu") if c in available)
            _write(base / "cgroup.subtree_control", enable)
            parent = base / tag
            parent.mkdir(exist_ok=True)
            _write(parent / "cgroup.subtree_control", enable)
            return Layout({"": parent}, v2=True)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EBUSY, errno.ENOENT):
                raise
    return None
