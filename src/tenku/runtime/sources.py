"""Getting a build's source onto disk: fetched as a stream, checked, then unpacked."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import httpx

from tenku.config import Settings
from tenku.egress import REFUSED, EgressPolicy, EgressRefused, LocalPathRefused, local_source
from tenku.runtime import untar
from tenku.storage.blobs import CHUNK, BlobNotFound, BlobStore, is_blob_key
from tenku.storage.checksums import sha256_hex
from tenku.storage.signing import Signer
from tenku.storage.urls import subject_of

if TYPE_CHECKING:
    from tenku.runtime.sandbox import Sandbox

# Sources larger than this are refused (the slug limit is 500 MB compressed).
MAX_SOURCE = 1 << 30


class SourceError(Exception):
    """A problem with the source that the build output reports to the user."""


def expected_sha256(checksum: str | None) -> str | None:
    if checksum is None:
        return None
    digest = sha256_hex(checksum)
    if digest is None:
        raise SourceError(f"Unsupported checksum {checksum!r}: use SHA256:<hex digest>.")
    return digest


def client_tls(settings: Settings) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    # Trust Tenku's own CA as well, for source URLs served by another Tenku host.
    from tenku.tls import tls_files

    ca = tls_files(settings.data_dir).ca_cert
    if ca.exists():
        with contextlib.suppress(OSError, ssl.SSLError):
            ctx.load_verify_locations(cafile=str(ca))
    return ctx


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def _download(url: str, dest: Path, settings: Settings) -> None:
    timeout = httpx.Timeout(30.0, read=120.0)
    size = 0
    async with (
        EgressPolicy.of(settings).client(
            timeout=timeout, follow_redirects=True, verify=client_tls(settings)
        ) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code != 200:
            raise SourceError(f"Downloading the source failed: HTTP {response.status_code}.")
        handle = await asyncio.to_thread(dest.open, "wb")
        try:
            async for chunk in response.aiter_bytes(CHUNK):
                size += len(chunk)
                if size > MAX_SOURCE:
                    raise SourceError("The source is larger than 1 GB.")
                await asyncio.to_thread(handle.write, chunk)
        finally:
            handle.close()


async def _copy_blob(blobs: BlobStore, key: str, dest: Path) -> None:
    handle = await asyncio.to_thread(dest.open, "wb")
    try:
        async for chunk in blobs.get(key):
            await asyncio.to_thread(handle.write, chunk)
    finally:
        handle.close()


def _file_path(url: str, settings: Settings) -> Path:
    try:
        # Never inside the data directory, where other apps' sources and slugs live.
        path = local_source(Path(unquote(urlsplit(url).path)), settings, shown=url)
    except LocalPathRefused as exc:
        raise SourceError(f"{exc}.") from exc
    if not path.is_file():
        raise SourceError(f"The source file {path} does not exist.")
    return path


async def fetch_url(url: str, dest: Path, settings: Settings) -> Path:
    """A file:// or http(s) URL's content as a local file."""
    if url.startswith("file://"):
        return _file_path(url, settings)
    if url.startswith(("http://", "https://")):
        try:
            await _download(url, dest, settings)
        except EgressRefused as exc:
            raise SourceError(f"Downloading {url} was {REFUSED}.") from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"Downloading {url} failed: {exc}") from exc
        return dest
    raise SourceError(f"Unsupported URL: {url}")


async def fetch(
    *,
    url: str,
    blob_key: str | None,
    checksum: str | None,
    dest: Path,
    settings: Settings,
    blobs: BlobStore,
    signer: Signer,
) -> tuple[Path, str]:
    """The source tarball as a local file (the blob store's own file when it has one), and
    its SHA-256."""
    want = expected_sha256(checksum)
    key = blob_key
    if key is None and url.startswith(("http://", "https://")):
        # A source URL of this installation is read straight from the store.
        key = subject_of(settings, signer, url)
        if key is not None and not is_blob_key(key):
            # Signed for something else (a slug's download): not a source tarball.
            raise SourceError(
                "The source URL is not a source tarball's: it downloads a slug. Release the "
                "slug instead (POST /apps/{app}/releases), or upload a source."
            )
    path: Path
    if key is not None:
        local = blobs.local_path(key)
        if local is not None and local.is_file():
            path = local
        else:
            try:
                await _copy_blob(blobs, key, dest)
            except BlobNotFound as exc:
                raise SourceError("The source blob does not exist (was it uploaded?).") from exc
            path = dest
    else:
        path = await fetch_url(url, dest, settings)
    got = await asyncio.to_thread(_sha256_of, path)
    if want is not None and got != want:
        raise SourceError(f"Checksum mismatch: the source's SHA256 is {got}, expected {want}.")
    return path, got


async def unpack(
    tarball: Path,
    dest: Path,
    settings: Settings,
    strip_lone_dir: bool = True,
    *,
    sandbox: Sandbox | None = None,
    uid: int | None = None,
) -> Path:
    """Unpack into `dest` (in the sandbox, as the app's uid, when there is one); the app's
    root (inside a lone top-level directory, if any)."""
    max_bytes, max_members = settings.source_limits
    limits = untar.Limits(max_bytes, max_members)
    try:
        if sandbox is not None and sandbox.enabled and uid is not None:
            await sandbox.unpack(tarball, dest, limits, uid=uid)
        else:
            await asyncio.to_thread(untar.unpack, tarball, dest, limits)
    except untar.UnsafeArchive as exc:
        raise SourceError(f"The tarball cannot be unpacked safely: {exc}.") from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SourceError(f"The source is not a readable gzipped tarball: {exc}") from exc
    return await asyncio.to_thread(_app_root, dest) if strip_lone_dir else dest


def _app_root(dest: Path) -> Path:
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return dest
