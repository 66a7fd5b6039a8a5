"""Both cgroup layouts, on trees laid out as the kernel lays them out.

The real kernel's v1/hybrid layout is what the sandbox tests run on (this machine's); the
unified (v2) tree is checked here on a directory shaped like one: which files are written
with what, and how usage, OOM kills and the kill are read and done.
"""

from __future__ import annotations

from pathlib import Path

from tenku.runtime import cgroups
from tenku.runtime.cgroups import Limits, Memory

LIMITS = Limits(memory_bytes=1 << 30, pids=256, cpu_shares=2048)


def test_the_unified_tree(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    layout = cgroups.detect("/srv/tenku", root=tmp_path)
    assert layout is not None
    assert layout.v2
    assert layout.description == "cgroup v2"
    parent = layout.parents[""]
    assert parent.parent == tmp_path
    assert parent.name.startswith("tenku-")
    # The controllers are handed down to Tenku's parent and from it to each group.
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (parent / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"

    group = layout.create("app-web.1", LIMITS)
    d = parent / "app-web.1"
    assert (d / "memory.max").read_text() == str(1 << 30)
    assert (d / "memory.swap.max").read_text() == "0"
    assert (d / "pids.max").read_text() == "256"
    assert (d / "cpu.weight").read_text() == "200"  # twice the default 100
    assert group.procs_files == [d / "cgroup.procs"]

    (d / "memory.stat").write_text("anon 1048576\nfile 4096\nkernel 12\n")
    (d / "memory.swap.current").write_text("8192\n")
    assert group.memory() == Memory(rss=1048576, cache=4096, swap=8192)
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert group.oom_kills() == 1
    (d / "cgroup.procs").write_text("")
    (d / "cgroup.kill").write_text("")
    group.kill()
    assert (d / "cgroup.kill").read_text() == "1"


def test_a_unified_tree_without_memory_or_pids_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu io\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    assert cgroups.detect("/srv/tenku", root=tmp_path) is None


def test_the_v1_layout(tmp_path: Path) -> None:
    for controller in ("memory", "pids", "cpu"):
        (tmp_path / controller).mkdir()
        (tmp_path / controller / "cgroup.procs").write_text("")
    layout = cgroups.detect("/srv/tenku", root=tmp_path)
    assert layout is not None
    assert not layout.v2
    assert layout.description == "cgroup v1 (cpu, memory, pids)"
    group = layout.create("app-web.1", LIMITS)
    memory, pids, cpu = (layout.parents[c] / "app-web.1" for c in ("memory", "pids", "cpu"))
    assert (memory / "memory.limit_in_bytes").read_text() == str(1 << 30)
    assert (memory / "memory.swappiness").read_text() == "0"
    assert (pids / "pids.max").read_text() == "256"
    assert (cpu / "cpu.shares").read_text() == "2048"
    (memory / "memory.stat").write_text("rss 1\ntotal_rss 2048\ntotal_cache 512\ntotal_swap 0\n")
    assert group.memory() == Memory(rss=2048, cache=512, swap=0)
    (memory / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert group.oom_kills() == 2


def test_v1_without_a_pids_hierarchy_is_not_used(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "cgroup.procs").write_text("")
    assert cgroups.detect("/srv/tenku", root=tmp_path) is None
