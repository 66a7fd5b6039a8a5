"""Unpacking tarballs users give: sources, buildpacks and slugs.

Python's own tar filters have been bypassed (symlink chains longer than PATH_MAX, the
CVE-2025-4517 family), so members are checked here, lexically, before anything is
written, and written without ever following a link:

- no absolute paths and no `..`; devices, FIFOs and other special members are refused;
- no member is written through a symbolic link the archive made (a link made earlier in
  the tree is never a directory to write into);
- hard links only to regular files already unpacked from the same archive;
- symbolic links may not leave the tree, except in slugs, whose buildpacks link the
  machine's interpreters by absolute path (harmless: nothing is written through them);
- owners are dropped and setuid/setgid/sticky bits cleared; the owner can always read;
- the number of members and the bytes written are capped, and nothing is written past
  the cap.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

CHUNK = 1 << 16
MiB = 1 << 20
# How the unpacking process (run inside the sandbox, see `main`) says what went wrong.
EXIT_UNSAFE = 3
EXIT_UNREADABLE = 4


class UnsafeArchive(Exception):
    """The archive cannot be unpacked safely; the message says which member and why."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_members: int
    # Slugs link the machine's interpreters by absolute path.
    absolute_links: bool = False
    # Only members under this top-level directory are unpacked, without it (slugs: `app`).
    prefix: str | None = None


def _clean(name: str) -> PurePosixPath | None:
    """The member's path relative to the tree; None for the tree itself."""
    path = PurePosixPath(name)
    if path.is_absolute():
        raise UnsafeArchive(f"{name}: absolute paths are not allowed")
    parts = [p for p in path.parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"{name}: `..` is not allowed")
    return PurePosixPath(*parts) if parts else None


def _under(path: PurePosixPath | None, prefix: str | None) -> PurePosixPath | None:
    if path is None or prefix is None:
        return path
    if len(path.parts) < 2 or path.parts[0] != prefix:
        return None
    return PurePosixPath(*path.parts[1:])


def _stays_inside(rel: PurePosixPath, target: str) -> bool:
    depth = len(rel.parent.parts)
    for part in PurePosixPath(target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


class _Unpacker:
    def __init__(self, dest: Path, limits: Limits) -> None:
        self.dest = dest
        self.limits = limits
        self.links: set[PurePosixPath] = set()
        self.files: set[PurePosixPath] = set()
        self.written = 0
        self.members = 0

    def member(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise UnsafeArchive(f"more than {self.limits.max_members} members")
        rel = _under(_clean(m.name), self.limits.prefix)
        if rel is None:
            return
        for parent in rel.parents:
            if parent in self.links:
                raise UnsafeArchive(f"{m.name}: goes through the link {parent}")
        target = self.dest / rel
        self._clear(rel, target, directory=m.isdir())
        if m.isdir():
            target.mkdir(parents=True, exist_ok=True)
            target.chmod((m.mode & 0o777) | 0o700)
        elif m.isreg():
            self._file(tar, m, rel, target)
        elif m.issym():
            self._symlink(m, rel, target)
        elif m.islnk():
            self._hardlink(m, rel, target)
        else:
            raise UnsafeArchive(f"{m.name}: devices, FIFOs and special files are not allowed")

    def _clear(self, rel: PurePosixPath, target: Path, *, directory: bool) -> None:
        """Make room for a member that repeats an earlier one (the later one wins)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(target):
            return
        if target.is_dir() and not target.is_symlink():
            if directory:
                return
            raise UnsafeArchive(f"{rel}: replaces a directory")
        target.unlink()
        self.links.discard(rel)
        self.files.discard(rel)

    def _file(
        self, tar: tarfile.TarFile, m: tarfile.TarInfo, rel: PurePosixPath, target: Path
    ) -> None:
        if self.written + m.size > self.limits.max_bytes:
            raise UnsafeArchive(f"unpacks to more than {self.limits.max_bytes // MiB} MiB")
        source = tar.extractfile(m)
        assert source is not None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            self._copy(source, out)
        os.chmod(target, (m.mode & 0o777) | 0o600, follow_symlinks=False)
        self.files.add(rel)

    def _copy(self, source: IO[bytes], out: IO[bytes]) -> None:
        while chunk := source.read(CHUNK):
            self.written += len(chunk)
            if self.written > self.limits.max_bytes:
                raise UnsafeArchive(f"unpacks to more than {self.limits.max_bytes // MiB} MiB")
            out.write(chunk)

    def _symlink(self, m: tarfile.TarInfo, rel: PurePosixPath, target: Path) -> None:
        link = m.linkname
        if PurePosixPath(link).is_absolute():
            if not self.limits.absolute_links:
                raise UnsafeArchive(f"{m.name}: links outside the tree are not allowed")
        elif not _stays_inside(rel, link):
            raise UnsafeArchive(f"{m.name}: links outside the tree are not allowed")
        os.symlink(link, target)
        self.links.add(rel)

    def _hardlink(self, m: tarfile.TarInfo, rel: PurePosixPath, target: Path) -> None:
        source = _under(_clean(m.linkname), self.limits.prefix)
        if source is None or source not in self.files:
            raise UnsafeArchive(f"{m.name}: hard links must name a file unpacked before")
        os.link(self.dest / source, target, follow_symlinks=False)
        self.files.add(rel)


def unpack(tarball: Path, dest: Path, limits: Limits) -> None:
    """Unpack `tarball` (any compression tar reads) into `dest`, which must not exist or be
    empty. UnsafeArchive for a member that breaks a rule, tarfile.TarError for garbage."""
    with tarball.open("rb") as f:
        unpack_stream(f, dest, limits)


def unpack_stream(f: IO[bytes], dest: Path, limits: Limits) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty")
    unpacker = _Unpacker(dest, limits)
    try:
        with tarfile.open(fileobj=f, mode="r|*") as tar:
            for member in tar:
                unpacker.member(tar, member)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        raise


def main(argv: list[str]) -> int:
    """`python -I -S -c <this file> DEST LIMITS-JSON < TARBALL`: unpack as whoever runs it.

    The sandbox runs this as the app's uid, with only DEST writable and the tarball on
    stdin; it imports nothing but the standard library, so the sandbox needs nothing of
    Tenku's but this file's text.
    """
    dest, raw = argv
    opts = json.loads(raw)
    limits = Limits(
        int(opts["max_bytes"]),
        int(opts["max_members"]),
        absolute_links=bool(opts.get("absolute_links")),
        prefix=opts.get("prefix"),
    )
    try:
        unpack_stream(sys.stdin.buffer, Path(dest), limits)
    except UnsafeArchive as exc:
        sys.stderr.write(str(exc))
        return EXIT_UNSAFE
    except (tarfile.TarError, EOFError) as exc:
        sys.stderr.write(str(exc))
        return EXIT_UNREADABLE
    except OSError as exc:
        # Its text reaches the user (a build's output, an R99 line): the reason, not the
        # path on this machine it happened at.
        sys.stderr.write(exc.strerror or "an I/O error")
        return EXIT_UNREADABLE
    return 0


def read_outcome(code: int, err: bytes) -> None:
    """Raise what the unpacking process (`main`) reported, as `unpack` would have."""
    message = err.decode(errors="replace").strip()[-2000:]
    if code == EXIT_UNSAFE:
        raise UnsafeArchive(message)
    if code != 0:
        raise tarfile.TarError(message or f"the unpacker exited with status {code}")


def read_own_text(path: Path, limit: int = 1 << 20) -> str | None:
    """A file of a user's tree that Tenku itself reads (a Procfile): None unless it is a
    regular file of the tree, not a link to one elsewhere; at most `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read(limit).decode(errors="replace")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
