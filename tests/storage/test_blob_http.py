"""PUT and GET on blob URLs: no Authorization, streamed both ways, tokens checked."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest

from tenku.config import Settings
from tenku.storage.signing import Signer, load_secret
from tenku.storage.urls import PREFIX
from tests.conftest import ApiClient, User

MB = 1024 * 1024


def path_of(url: str) -> str:
    parsed = httpx.URL(url)
    assert (parsed.scheme, parsed.host, parsed.port) == ("https", "127.0.0.1", 5000)
    assert parsed.path.startswith(PREFIX)
    return parsed.raw_path.decode()


async def put(api: ApiClient, url: str, content: object, **headers: str) -> httpx.Response:
    # Exactly what the CLI sends: a body and its length, no Authorization, no Accept.
    return await api.http.put(path_of(url), content=content, headers=headers)  # type: ignore[arg-type]


async def get(api: ApiClient, url: str, **headers: str) -> httpx.Response:
    return await api.http.get(path_of(url), headers=headers)


async def source(user: User, app: str) -> tuple[str, str]:
    r = await user.post(f"/apps/{app}/sources")
    assert r.status_code == 201, r.text
    blob = r.json()["source_blob"]
    return blob["put_url"], blob["get_url"]


def refused(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["id"] == "forbidden"
    assert "message" in r.json()


async def test_put_then_get_without_authorization(alice: User, api: ApiClient) -> None:
    await alice.create_app("blob-app")
    put_url, get_url = await source(alice, "blob-app")
    assert (await get(api, get_url)).status_code == 404
    r = await put(api, put_url, b"tarball bytes")
    assert r.status_code == 200, r.text
    r = await get(api, get_url)
    assert r.status_code == 200
    assert r.content == b"tarball bytes"
    assert r.headers["content-length"] == "13"
    assert r.headers["accept-ranges"] == "bytes"
    # Uploading again replaces a source.
    assert (await put(api, put_url, b"second")).status_code == 200
    assert (await get(api, get_url)).content == b"second"


async def test_ranges(alice: User, api: ApiClient) -> None:
    await alice.create_app("blob-range")
    put_url, get_url = await source(alice, "blob-range")
    await put(api, put_url, b"0123456789")
    cases = {
        "bytes=2-5": (206, b"2345", "bytes 2-5/10"),
        "bytes=7-": (206, b"789", "bytes 7-9/10"),
        "bytes=-3": (206, b"789", "bytes 7-9/10"),
        "bytes=8-100": (206, b"89", "bytes 8-9/10"),
        "bytes=0-0,2-3": (200, b"0123456789", None),
        "items=0-1": (200, b"0123456789", None),
    }
    for header, (status, content, content_range) in cases.items():
        r = await get(api, get_url, Range=header)
        assert (r.status_code, r.content) == (status, content), header
        assert r.headers.get("content-range") == content_range, header
    r = await get(api, get_url, Range="bytes=10-")
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */10"
    assert r.json()["id"] == "requested_range_not_satisfiable"


async def test_forged_expired_and_wrong_method_tokens_are_refused(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    await alice.create_app("blob-forged")
    put_url, get_url = await source(alice, "blob-forged")
    await put(api, put_url, b"x")
    refused(await get(api, put_url))
    refused(await put(api, get_url, b"y"))
    token = path_of(get_url)[len(PREFIX) :]
    flipped = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    refused(await api.http.get(PREFIX + flipped))
    refused(await api.http.get(PREFIX + "not-a-token"))
    signer = Signer(load_secret(settings.data_dir))
    key = signer.verify(token, "GET")
    assert key is not None
    assert key.startswith("sources/")
    expired = signer.sign(key, "GET", -1)
    refused(await api.http.get(PREFIX + expired))
    # A token for a key outside the store never reaches it.
    refused(await api.http.get(PREFIX + signer.sign("../secret.key", "GET", 60)))
    assert (await get(api, get_url)).content == b"x"


async def test_a_large_upload_streams_to_disk(alice: User, api: ApiClient) -> None:
    await alice.create_app("blob-big")
    put_url, get_url = await source(alice, "blob-big")
    size = 50 * MB
    block = bytes(range(256)) * 256  # 64 KiB
    expected = hashlib.sha256()
    for i in range(size // len(block)):
        expected.update(block[:-1] + bytes([i % 256]))

    async def body() -> AsyncIterator[bytes]:
        for i in range(size // len(block)):
            yield block[:-1] + bytes([i % 256])

    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        r = await put(api, put_url, body(), **{"Content-Length": str(size)})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 200, r.text
    # A 50 MB body held whole would show up as 50 MB here; streamed, a few batches do.
    assert peak - before < 8 * MB, f"peak grew by {(peak - before) / MB:.1f} MB"
    r = await get(api, get_url)
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == size
    assert hashlib.sha256(r.content).hexdigest() == expected.hexdigest()


async def test_declared_oversize_upload_is_refused(
    alice: User, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tenku.resources.blob.routes as blob_routes

    monkeypatch.setattr(blob_routes, "SOURCE_LIMIT", 10)
    await alice.create_app("blob-limit")
    put_url, get_url = await source(alice, "blob-limit")
    r = await put(api, put_url, b"x" * 11)
    assert r.status_code == 413
    assert r.json()["id"] == "request_entity_too_large"

    async def undeclared() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 5

    r = await put(api, put_url, undeclared())
    assert r.status_code == 413
    assert (await get(api, get_url)).status_code == 404
