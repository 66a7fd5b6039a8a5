"""The blob store, signed tokens and blob URLs, without HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tenku.config import Settings
from tenku.storage.blobs import BlobNotFound, DirectoryBlobStore
from tenku.storage.signing import Signer
from tenku.storage.urls import blob_url, subject_of


async def stream(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def read(
    store: DirectoryBlobStore, key: str, start: int = 0, length: int | None = None
) -> bytes:
    return b"".join([chunk async for chunk in store.get(key, start, length)])


async def test_put_get_size_delete(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    assert await store.put("sources/a.tgz", stream(b"hello ", b"world")) == 11
    assert await store.size("sources/a.tgz") == 11
    assert await read(store, "sources/a.tgz") == b"hello world"
    assert await read(store, "sources/a.tgz", 6) == b"world"
    assert await read(store, "sources/a.tgz", 2, 3) == b"llo"
    assert await read(store, "sources/a.tgz", 10, 100) == b"d"
    await store.delete("sources/a.tgz")
    assert await store.size("sources/a.tgz") is None
    with pytest.raises(BlobNotFound):
        await read(store, "sources/a.tgz")


async def test_a_directory_is_no_blob(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    await store.put("slugs/x/y.tgz", stream(b"1"))
    assert await store.size("slugs/x") is None
    with pytest.raises(BlobNotFound):
        await read(store, "slugs/x")


async def test_a_failed_upload_leaves_nothing(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    await store.put("sources/keep.tgz", stream(b"old"))

    async def broken() -> AsyncIterator[bytes]:
        yield b"new"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await store.put("sources/keep.tgz", broken())
    assert await read(store, "sources/keep.tgz") == b"old"
    assert [p.name for p in (tmp_path / "sources").iterdir()] == ["keep.tgz"]


def test_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path)
    for bad in ("../x", "a/../../x", "/abs", "", "a b"):
        with pytest.raises(ValueError, match="invalid blob key"):
            store.local_path(bad)


def test_tokens_are_bound_to_key_method_secret_and_time() -> None:
    signer = Signer(b"secret")
    token = signer.sign("sources/a.tgz", "PUT", 60)
    assert signer.verify(token, "PUT") == "sources/a.tgz"
    assert signer.verify(token, "GET") is None
    assert Signer(b"other").verify(token, "PUT") is None
    assert signer.verify(signer.sign("sources/a.tgz", "PUT", -1), "PUT") is None
    payload, _, mac = token.partition(".")
    assert (
        signer.verify(payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac, "PUT")
        is None
    )
    assert signer.verify("garbage", "PUT") is None
    assert signer.verify("", "PUT") is None


def test_blob_urls_round_trip_only_for_this_installation(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="sqlite+aiosqlite://", port=5000)
    signer = Signer(b"secret")
    url = blob_url(settings, signer, "sources/a.tgz", "GET")
    assert url.startswith("https://127.0.0.1:5000/blobs/")
    assert subject_of(settings, signer, url) == "sources/a.tgz"
    assert subject_of(settings, signer, url, "PUT") is None
    assert subject_of(settings, signer, url.replace("127.0.0.1", "example.com")) is None
    assert subject_of(settings, signer, "https://127.0.0.1:5000/other/x") is None
