"""Tenku's own files are readable by Tenku alone.

Every `tenku` process runs with umask 077, so whatever it creates (the database, keys,
blobs, repositories, dyno directories) is its owner's only; the data directory is 0700.
An installation made before, or files loosened by hand, are reported at start.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

UMASK = 0o077
# What would let another local user read the platform's secrets, if loose.
SENSITIVE = ("secret.key", "tenku.db", "tls/ca-key.pem", "tls/server-key.pem")


def private_process() -> None:
    os.umask(UMASK)


def private_dir(path: Path) -> None:
    """Create `path` (and parents) for Tenku alone; an existing one is left as it is."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        path.chmod(0o700)


def loose_files(data_dir: Path) -> list[str]:
    """The data directory and the sensitive files in it that others may read or enter."""
    found = []
    for path in (data_dir, *(data_dir / name for name in SENSITIVE)):
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            found.append(f"{path} is mode {stat.S_IMODE(mode):04o}")
    return found


def write_private(path: Path, data: bytes) -> None:
    """Write a whole file readable by Tenku alone, in its private directory; readers never
    see it half-written."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as file:
        file.write(data)
    tmp.rename(path)
