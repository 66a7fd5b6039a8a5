"""Blob storage for sources and slugs, behind a small interface.

The default keeps blobs as files under the data directory; an S3-compatible
store can implement the same protocol. Blobs are written from streams and read
as streams, so a large tarball never sits whole in memory.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from stat import S_ISREG
from typing import Protocol

CHUNK = 1 << 16
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")


class BlobNotFound(Exception):
    pass


def is_blob_key(key: str) -> bool:
    return bool(_KEY_RE.match(key)) and ".." not in key.split("/")


def check_key(key: str) -> str:
    if not is_blob_key(key):
        raise ValueError(f"invalid blob key: {key!r}")
    return key


class BlobStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store the stream under `key` atomically; returns its size in bytes.

        If the stream raises, even after its last chunk, nothing is stored and any blob
        already under `key` stays: uploads are verified by raising at the end.
        """
        ...

    def get(self, key: str, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream the blob (or `length` bytes of it from `start`); raises BlobNotFound."""
        ...

    async def size(self, key: str) -> int | None: ...

    async def delete(self, key: str) -> None: ...

    async def listing(self, prefix: str) -> list[tuple[str, float]]:
        """Every blob whose key starts with `prefix` (a folder, ending in "/"), with the
        time it was last written (seconds since the epoch)."""
        ...

    def local_path(self, key: str) -> Path | None:
        """A filesystem path for the blob when the store has one (lets builds avoid a copy)."""
        ...


class DirectoryBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        path = self._path(key)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
        size = 0
        handle = await asyncio.to_thread(open, tmp, "wb")
        try:
            async for chunk in chunks:
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
        handle.close()
        await asyncio.to_thread(os.replace, tmp, path)
        return size

    async def get(
        self, key: str, start: int = 0, length: int | None = None
    ) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle = await asyncio.to_thread(open, path, "rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise BlobNotFound(key) from exc
        try:
            if start:
                await asyncio.to_thread(handle.seek, start)
            left = length
            while left is None or left > 0:
                want = CHUNK if left is None else min(CHUNK, left)
                chunk = await asyncio.to_thread(handle.read, want)
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def size(self, key: str) -> int | None:
        try:
            stat = await asyncio.to_thread(self._path(key).stat)
        except FileNotFoundError:
            return None
        return stat.st_size if S_ISREG(stat.st_mode) else None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def listing(self, prefix: str) -> list[tuple[str, float]]:
        return await asyncio.to_thread(self._listing, prefix)

    def _listing(self, prefix: str) -> list[tuple[str, float]]:
        top = self.root / check_key(prefix.rstrip("/"))
        found: list[tuple[str, float]] = []
        for folder, _dirs, files in os.walk(top):
            for name in files:
                path = Path(folder, name)
                try:
                    stat = path.lstat()
                except FileNotFoundError:
                    continue
                if S_ISREG(stat.st_mode):
                    found.append((path.relative_to(self.root).as_posix(), stat.st_mtime))
        return found

    def local_path(self, key: str) -> Path | None:
        return self._path(key)
