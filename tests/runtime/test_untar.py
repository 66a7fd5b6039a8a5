"""Unpacking what users give: every escape a tarball can try is refused before it writes."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tenku.runtime import untar
from tenku.runtime.dyno_env import SlugError, unpack_slug
from tenku.runtime.untar import Limits, UnsafeArchive, read_own_text, unpack

SOURCE = Limits(max_bytes=512 << 20, max_members=1000)
SLUG = Limits(max_bytes=512 << 20, max_members=1000, absolute_links=True, prefix="app")
Member = Callable[[tarfile.TarFile], None]


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **fields: object) -> Member:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        info.mode = 0o644 if kind != tarfile.DIRTYPE else 0o755
        for key, value in fields.items():
            setattr(info, key, value)
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

    return add


def link(name: str, target: str) -> Member:
    return member(name, tarfile.SYMTYPE, linkname=target)


def hard(name: str, target: str) -> Member:
    return member(name, tarfile.LNKTYPE, linkname=target)


def tarball(path: Path, *members: Member) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for add in members:
            add(tar)
    return path


def attempt(tmp_path: Path, limits: Limits, *members: Member) -> Path:
    dest = tmp_path / "out"
    unpack(tarball(tmp_path / "t.tgz", *members), dest, limits)
    return dest


def test_an_ordinary_tree_unpacks(tmp_path: Path) -> None:
    dest = attempt(
        tmp_path,
        SOURCE,
        member("./app", tarfile.DIRTYPE),
        member("./app/run.sh", data=b"echo hi\n", mode=0o4755, uid=0, uname="root"),
        member("./app/lib/a.py", data=b"x = 1\n"),
        link("./app/current", "lib/a.py"),
        hard("./app/copy.py", "./app/lib/a.py"),
    )
    app = dest / "app"
    assert (app / "run.sh").read_bytes() == b"echo hi\n"
    assert stat.S_IMODE((app / "run.sh").stat().st_mode) == 0o755, "setuid dropped"
    assert (app / "run.sh").stat().st_uid == os.getuid()
    assert os.readlink(app / "current") == "lib/a.py"
    assert (app / "copy.py").stat().st_ino == (app / "lib" / "a.py").stat().st_ino


@pytest.mark.parametrize(
    "members",
    [
        [member("../escape.txt", data=b"x")],
        [member("a/../../escape.txt", data=b"x")],
        [member("/tmp/escape.txt", data=b"x")],
        [link("up", "../outside")],
        [link("deep/up", "../../outside")],
        [link("etc", "/etc")],
        [link("d", "sub"), member("sub", tarfile.DIRTYPE), member("d/x.txt", data=b"x")],
        [hard("passwd", "/etc/passwd")],
        [hard("passwd", "../../etc/passwd")],
        [member("dev", tarfile.CHRTYPE, devmajor=1, devminor=3)],
        [member("fifo", tarfile.FIFOTYPE)],
        [hard("later", "not-yet.txt"), member("not-yet.txt", data=b"x")],
    ],
)
def test_escapes_are_refused(tmp_path: Path, members: list[Member]) -> None:
    with pytest.raises(UnsafeArchive):
        attempt(tmp_path, SOURCE, *members)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_hardlink_through_a_symlink_never_reaches_the_host(tmp_path: Path) -> None:
    """The slug attack: a link to a host directory, then a hard link through it, which a
    dyno's start would chmod or chown."""
    victim = tmp_path / "victim.txt"
    victim.write_text("host file")
    victim.chmod(0o600)
    slug = tarball(
        tmp_path / "slug.tgz",
        member("./app", tarfile.DIRTYPE),
        link("./app/host", str(tmp_path)),
        hard("./app/stolen", "./app/host/victim.txt"),
    )
    with pytest.raises(SlugError):
        unpack_slug(slug, tmp_path / "dyno", 1 << 30, 1000)
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert victim.stat().st_nlink == 1


def test_writing_through_a_link_is_refused_even_in_slugs(tmp_path: Path) -> None:
    slug = tarball(
        tmp_path / "slug.tgz",
        link("./app/etc", str(tmp_path)),
        member("./app/etc/planted.txt", data=b"owned"),
    )
    with pytest.raises(SlugError):
        unpack_slug(slug, tmp_path / "dyno", 1 << 30, 1000)
    assert not (tmp_path / "planted.txt").exists()


def test_slugs_keep_absolute_links_to_interpreters(tmp_path: Path) -> None:
    slug = tarball(
        tmp_path / "slug.tgz",
        member("./app/.heroku/python/bin", tarfile.DIRTYPE),
        link("./app/.heroku/python/bin/python", "/usr/bin/python3"),
        member("./app/Procfile", data=b"web: python app.py\n"),
        member("./outside-app.txt", data=b"ignored"),
    )
    dest = tmp_path / "dyno"
    unpack_slug(slug, dest, 1 << 30, 1000)
    assert os.readlink(dest / ".heroku/python/bin/python") == "/usr/bin/python3"
    assert (dest / "Procfile").read_text() == "web: python app.py\n"
    assert not (dest / "outside-app.txt").exists()


def test_a_symlink_chain_longer_than_path_max_cannot_escape(tmp_path: Path) -> None:
    """CVE-2025-4517: links whose resolved path outgrows PATH_MAX fool realpath checks."""
    name = "d" * 247
    steps = "abcdefghijklmnop"
    members: list[Member] = []
    path = ""
    for step in steps:
        members.append(member(os.path.join(path, name), tarfile.DIRTYPE))
        members.append(link(os.path.join(path, step), name))
        path = os.path.join(path, name)
    long_link = os.path.join(*steps)
    members.append(link("escape", os.path.join(long_link, "../" * len(steps) + "..")))
    members.append(member("escape/planted.txt", data=b"owned"))
    with pytest.raises(UnsafeArchive):
        attempt(tmp_path, SOURCE, *members)
    assert not (tmp_path / "planted.txt").exists()


def bomb(path: Path, size: int) -> Path:
    """A tarball of one file of `size` zero bytes: about a thousandth of that compressed."""
    with gzip.open(path, "wb", compresslevel=9) as gz:
        header = tarfile.TarInfo("zeros.bin")
        header.size = size
        gz.write(header.tobuf(format=tarfile.GNU_FORMAT))
        block = bytes(1 << 20)
        for _ in range(size // len(block)):
            gz.write(block)
        gz.write(bytes(size % len(block) + (-size % 512)))
        gz.write(bytes(1024))
    return path


def test_a_gigabyte_bomb_stops_at_the_limit(tmp_path: Path) -> None:
    path = bomb(tmp_path / "bomb.tgz", 1_000_000_000)
    assert path.stat().st_size < 2_000_000
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchive, match="more than 512 MiB"):
        unpack(path, dest, SOURCE)
    assert sum(f.stat().st_size for f in dest.rglob("*")) == 0, "nothing kept"


def test_too_many_members(tmp_path: Path) -> None:
    members = [member(f"f{i}.txt", data=b"x") for i in range(20)]
    with pytest.raises(UnsafeArchive, match="more than 10 members"):
        attempt(tmp_path, Limits(max_bytes=1 << 20, max_members=10), *members)


def test_tenku_reads_a_procfile_only_if_it_is_the_trees_own(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("web: cat /etc/shadow\n")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "Procfile").symlink_to(secret)
    assert read_own_text(tree / "Procfile") is None
    (tree / "Procfile").unlink()
    (tree / "Procfile").write_text("web: ok\n")
    assert read_own_text(tree / "Procfile") == "web: ok\n"


def test_the_unpacker_process_reports_a_failure_without_this_machine_s_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `untar.main` writes reaches the user (build output, R99 lines)."""
    import json
    import sys

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    tarball(tmp_path / "t.tar", member("app/x", data=b"hi"))
    stdin = io.TextIOWrapper(io.BytesIO((tmp_path / "t.tar").read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    limits = json.dumps({"max_bytes": 1 << 20, "max_members": 10})
    assert untar.main([str(blocker / "dest"), limits]) != 0
    err = capsys.readouterr().err
    assert err, "the unpacker said nothing"
    assert str(tmp_path) not in err
