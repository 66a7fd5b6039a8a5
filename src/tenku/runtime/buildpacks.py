"""Which buildpack a name or URL means, and a private, writable copy of it per build."""

from __future__ import annotations

import asyncio
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from tenku.buildpacks import BUILTIN, URN_PREFIX
from tenku.config import Settings
from tenku.egress import LocalPathRefused, local_source
from tenku.runtime import sources

if TYPE_CHECKING:
    from tenku.runtime.sandbox import Sandbox

# Heroku's own buildpack repositories, which builds here run with the built-in buildpack of
# the same language (there is no internet to clone them from).
_GITHUB = re.compile(
    r"^https?://github\.com/heroku(?:-community)?/heroku-buildpack-([\w-]+?)(?:\.git)?/?(?:#.*)?$"
)
_LANGUAGES = {"node": "nodejs", "nodejs": "nodejs", "python": "python", "static": "static"}
# Detection order when an app names no buildpack (Heroku checks Node.js before Python).
DETECT_ORDER = ("heroku/nodejs", "heroku/python", "heroku/static", "heroku/procfile")


class BuildpackError(Exception):
    pass


@dataclass(frozen=True)
class BuildpackRef:
    url: str
    name: str


def builtin_for(url: str) -> str | None:
    """The built-in buildpack a stored buildpack URL stands for, if any."""
    if url.startswith(URN_PREFIX):
        url = url[len(URN_PREFIX) :]
    if url in BUILTIN:
        return url
    m = _GITHUB.match(url)
    if m:
        name = f"heroku/{_LANGUAGES.get(m.group(1).lower(), m.group(1).lower())}"
        return name if name in BUILTIN else None
    return None


def detection_order() -> list[BuildpackRef]:
    names = [n for n in DETECT_ORDER if n in BUILTIN]
    names += [n for n in BUILTIN if n not in names]
    return [BuildpackRef(url=URN_PREFIX + n, name=n) for n in names]


def _make_runnable(directory: Path) -> None:
    bin_dir = directory / "bin"
    if bin_dir.is_symlink() or not all(_regular(bin_dir / n) for n in ("detect", "compile")):
        raise BuildpackError("The buildpack has no bin/detect or bin/compile.")
    for script in bin_dir.iterdir():
        # Never through a link: making its target executable could change any file.
        if _regular(script):
            mode = script.lstat().st_mode
            script.chmod(mode | stat.S_IXUSR | stat.S_IRUSR)


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _local_dir(url: str, settings: Settings) -> Path | None:
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    try:
        path = local_source(Path(url2pathname(unquote(parts.path))), settings, shown=url)
    except LocalPathRefused as exc:
        raise BuildpackError(f"The buildpack {exc}.") from exc
    return path if path.is_dir() else None


def _copy_dir(source: Path, dest: Path) -> None:
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))


async def materialize(
    ref: BuildpackRef,
    dest: Path,
    settings: Settings,
    *,
    sandbox: Sandbox | None = None,
    uid: int | None = None,
) -> Path:
    """A copy of the buildpack at `dest` that this build alone runs (and may write to)."""
    name = builtin_for(ref.url)
    local = _local_dir(ref.url, settings) if name is None else None
    if name is not None:
        await asyncio.to_thread(_copy_dir, BUILTIN[name], dest)
    elif local is not None:
        await asyncio.to_thread(_copy_dir, local, dest)
    else:
        tarball = dest.with_suffix(".tgz")
        try:
            path = await sources.fetch_url(ref.url, tarball, settings)
            root = await sources.unpack(
                path, dest.with_suffix(".d"), settings, sandbox=sandbox, uid=uid
            )
            await asyncio.to_thread(shutil.move, root, dest)
        except sources.SourceError as exc:
            raise BuildpackError(f"Could not fetch the buildpack {ref.url}: {exc}") from exc
    await asyncio.to_thread(_make_runnable, dest)
    return dest
