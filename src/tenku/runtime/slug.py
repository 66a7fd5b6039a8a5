"""Slug pieces: the Procfile, `.slugignore`, and packing the app into `./app`."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tenku.runtime.untar import read_own_text
from tenku.storage.blobs import CHUNK

PROCESS_LINE = re.compile(r"^([-\w]{1,128}):\s*(.+)$")
MAX_SLUG = 500 * 1024 * 1024
# Removed from every source, and never packed.
ALWAYS_IGNORED = (".git",)


def parse_procfile(text: str) -> dict[str, str]:
    """Process types by name; comments, blanks and malformed lines are skipped, the last
    duplicate wins."""
    types: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.rstrip("\r").strip()
        if not line or line.startswith("#"):
            continue
        m = PROCESS_LINE.match(line)
        if m:
            types[m.group(1)] = m.group(2).strip()
    return types


def read_procfile(build_dir: Path) -> dict[str, str] | None:
    text = read_own_text(build_dir / "Procfile")
    return None if text is None else parse_procfile(text)


def _glob_regex(glob: str) -> str:
    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@dataclass(frozen=True)
class IgnoreRule:
    regex: re.Pattern[str]
    anchored: bool
    dir_only: bool

    def matches(self, rel: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        target = rel if self.anchored else rel.rsplit("/", 1)[-1]
        return self.regex.fullmatch(target) is not None


def parse_slugignore(text: str) -> list[IgnoreRule]:
    """Roughly .gitignore syntax; negation (`!`) is not supported, as on Heroku."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if not line:
            continue
        rules.append(IgnoreRule(re.compile(_glob_regex(line)), anchored, dir_only))
    return rules


def apply_ignores(build_dir: Path, rules: list[IgnoreRule]) -> int:
    """Delete what the rules (and ALWAYS_IGNORED) match; how many entries went."""
    removed = 0
    for root, dirs, files in os.walk(build_dir):
        base = Path(root)
        rel_root = base.relative_to(build_dir).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        for name in list(dirs):
            path = base / name
            rel = prefix + name
            if name in ALWAYS_IGNORED or any(r.matches(rel, True) for r in rules):
                dirs.remove(name)
                if path.is_symlink():
                    path.unlink()
                else:
                    shutil.rmtree(path, ignore_errors=True)
                removed += 1
        for name in files:
            rel = prefix + name
            if any(r.matches(rel, False) for r in rules):
                (base / name).unlink(missing_ok=True)
                removed += 1
    return removed


def slugignore_rules(build_dir: Path) -> list[IgnoreRule]:
    text = read_own_text(build_dir / ".slugignore")
    return parse_slugignore(text) if text is not None else []


def pack(build_dir: Path, dest: Path) -> tuple[int, str]:
    """Pack `build_dir` as `./app/...` into a gzipped tar; (size, sha256 hex)."""

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if Path(info.name).name in ALWAYS_IGNORED:
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(dest, "w:gz", compresslevel=6) as tar:
        tar.add(build_dir, arcname="./app", filter=keep)
    digest = hashlib.sha256()
    size = 0
    with dest.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f}M"
    return f"{max(size, 1) / 1024:.1f}K"
