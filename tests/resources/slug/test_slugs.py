from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from typing import Any

import httpx
import pytest

from tests.conftest import ApiClient, User

PROCESS_TYPES = {"web": "python -m http.server $PORT", "worker": "python worker.py"}


def tarball(text: str = "print('hi')\n") -> bytes:
    """The same bytes for the same text: the gzip header's mtime is pinned."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("./app/app.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


def checksum(data: bytes) -> str:
    return "SHA256:" + hashlib.sha256(data).hexdigest()


async def create(user: User, app: str, **fields: Any) -> dict[str, Any]:
    r = await user.post(f"/apps/{app}/slugs", json={"process_types": PROCESS_TYPES, **fields})
    assert r.status_code == 201, r.text
    slug: dict[str, Any] = r.json()
    return slug


async def upload(api: ApiClient, slug: dict[str, Any], data: bytes) -> httpx.Response:
    return await api.http.put(path_of(slug["blob"]["url"]), content=data)


async def uploaded(user: User, api: ApiClient, app: str, data: bytes | None = None) -> str:
    slug = await create(user, app, commit="0123456789abcdef")
    assert (await upload(api, slug, data or tarball())).status_code == 200
    return str(slug["id"])


async def test_create_upload_download_release(alice: User, api: ApiClient) -> None:
    app = await alice.create_app("slug-app")
    slug = await create(
        alice,
        "slug-app",
        commit="60883d9e8947a57e04dc9124f25df004866a2051",
        commit_description="fixed a bug",
        buildpack_provided_description="Python",
    )
    assert slug["blob"]["method"] == "put"
    assert slug["blob"]["url"].startswith("https://127.0.0.1:5000/blobs/")
    assert slug["size"] is None
    assert slug["checksum"] is None
    assert slug["process_types"] == PROCESS_TYPES
    assert slug["stack"]["name"] == app["build_stack"]["name"]

    # Not released before its tarball is there.
    r = await alice.post("/apps/slug-app/releases", json={"slug": slug["id"]})
    assert r.status_code == 422
    assert "tarball" in r.json()["message"]

    data = tarball()
    r = await upload(api, slug, data)
    assert r.status_code == 200, r.text

    info = (await alice.get(f"/apps/slug-app/slugs/{slug['id']}")).json()
    assert info["id"] == slug["id"]
    assert info["size"] == len(data)
    assert info["checksum"] == checksum(data)
    assert info["blob"]["method"] == "get"
    download = await api.http.get(path_of(info["blob"]["url"]))
    assert download.status_code == 200
    assert download.content == data

    r = await alice.post("/apps/slug-app/releases", json={"slug": slug["id"]})
    assert r.status_code == 201, r.text
    release = r.json()
    assert release["slug"]["id"] == slug["id"]
    assert release["description"] == "Deploy 60883d9"
    formation = {
        f["type"]: f["quantity"] for f in (await alice.get("/apps/slug-app/formation")).json()
    }
    assert formation == {"web": 1, "worker": 0}
    held = (await alice.get("/apps/slug-app")).json()
    assert held["slug_size"] == len(data)
    assert held["buildpack_provided_description"] == "Python"


async def test_a_slug_never_changes_once_uploaded(alice: User, api: ApiClient) -> None:
    await alice.create_app("slug-once")
    slug = await create(alice, "slug-once")
    assert (await upload(api, slug, tarball("one"))).status_code == 200
    r = await upload(api, slug, tarball("two"))
    assert r.status_code == 409
    assert r.json()["id"] == "conflict"
    info = (await alice.get(f"/apps/slug-once/slugs/{slug['id']}")).json()
    assert (await api.http.get(path_of(info["blob"]["url"]))).content == tarball("one")


async def test_checksum_is_verified_on_upload(alice: User, api: ApiClient) -> None:
    await alice.create_app("slug-sum")
    data = tarball()
    slug = await create(alice, "slug-sum", checksum=checksum(data).upper())
    assert slug["checksum"] == checksum(data)
    r = await upload(api, slug, tarball("tampered"))
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert "checksum" in r.json()["message"]
    info = (await alice.get(f"/apps/slug-sum/slugs/{slug['id']}")).json()
    assert info["size"] is None
    assert (await api.http.get(path_of(info["blob"]["url"]))).status_code == 404
    assert (
        await alice.post("/apps/slug-sum/releases", json={"slug": slug["id"]})
    ).status_code == 422
    # The right tarball is still welcome.
    assert (await upload(api, slug, data)).status_code == 200
    info = (await alice.get(f"/apps/slug-sum/slugs/{slug['id']}")).json()
    assert info["size"] == len(data)
    assert (
        await alice.post("/apps/slug-sum/releases", json={"slug": slug["id"]})
    ).status_code == 201


async def test_oversize_slug_is_refused(
    alice: User, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tenku.resources.blob.routes as blob_routes

    monkeypatch.setattr(blob_routes, "SLUG_LIMIT", 16)
    await alice.create_app("slug-big")
    slug = await create(alice, "slug-big")
    r = await upload(api, slug, b"x" * 17)
    assert r.status_code == 413
    info = (await alice.get(f"/apps/slug-big/slugs/{slug['id']}")).json()
    assert info["size"] is None


async def test_slug_of_another_app_is_released_as_a_copy(alice: User, api: ApiClient) -> None:
    await alice.create_app("slug-src")
    await alice.create_app("slug-dst")
    data = tarball("shared")
    slug_id = await uploaded(alice, api, "slug-src", data)

    r = await alice.post("/apps/slug-dst/releases", json={"slug": slug_id})
    assert r.status_code == 201, r.text
    copy_id = r.json()["slug"]["id"]
    assert copy_id != slug_id
    copy = (await alice.get(f"/apps/slug-dst/slugs/{copy_id}")).json()
    original = (await alice.get(f"/apps/slug-src/slugs/{slug_id}")).json()
    for key in ("size", "checksum", "commit", "process_types", "stack"):
        assert copy[key] == original[key], key
    assert (await api.http.get(path_of(copy["blob"]["url"]))).content == data
    # Each app sees only its own slugs.
    assert (await alice.get(f"/apps/slug-dst/slugs/{slug_id}")).status_code == 404

    # The copy outlives the app it came from.
    assert (await alice.delete("/apps/slug-src")).status_code == 200
    assert (await api.http.get(path_of(original["blob"]["url"]))).status_code == 404
    copy = (await alice.get(f"/apps/slug-dst/slugs/{copy_id}")).json()
    assert (await api.http.get(path_of(copy["blob"]["url"]))).content == data


async def test_releasing_another_apps_slug_needs_access_to_it(
    alice: User, bob: User, api: ApiClient
) -> None:
    await alice.create_app("slug-hers")
    await bob.create_app("slug-his")
    slug_id = await uploaded(alice, api, "slug-hers")
    r = await bob.post("/apps/slug-his/releases", json={"slug": slug_id})
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    await alice.post("/apps/slug-hers/collaborators", json={"user": bob.email})
    r = await bob.post("/apps/slug-his/releases", json={"slug": slug_id})
    assert r.status_code == 201, r.text


async def test_two_users(alice: User, bob: User, api: ApiClient) -> None:
    await alice.create_app("slug-two")
    slug = await create(alice, "slug-two")
    r = await bob.post("/apps/slug-two/slugs", json={"process_types": {}})
    assert r.status_code == 403
    assert (await bob.get(f"/apps/slug-two/slugs/{slug['id']}")).status_code == 403
    assert (await api.request("GET", f"/apps/slug-two/slugs/{slug['id']}")).status_code == 401
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get(f"/apps/slug-two/slugs/{slug['id']}")).status_code == 200
    r = await reader.post("/apps/slug-two/slugs", json={"process_types": {}})
    assert r.status_code == 403


async def test_lookups(alice: User) -> None:
    await alice.create_app("slug-look")
    for ident in ("00000000-0000-0000-0000-000000000000", "nope"):
        r = await alice.get(f"/apps/slug-look/slugs/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "slug"


async def test_stack_and_validation(alice: User) -> None:
    await alice.create_app("slug-valid")
    slug = await create(alice, "slug-valid", stack="heroku-22")
    assert slug["stack"]["name"] == "heroku-22"
    bad: list[dict[str, Any]] = [
        {},
        {"process_types": "web: x"},
        {"process_types": {"web": 1}},
        {"process_types": {"we b": "x"}},
        {"process_types": {"w" * 129: "x"}},
        {"process_types": {}, "checksum": "MD5:abc"},
        {"process_types": {}, "checksum": "SHA256:1234"},
        {"process_types": {}, "stack": "cedar-99"},
        {"process_types": {}, "commit": "x" * 256},
    ]
    for fields in bad:
        r = await alice.post("/apps/slug-valid/slugs", json=fields)
        assert r.status_code == 422, fields
        assert {"id", "message"} <= set(r.json())
    r = await alice.post(
        "/apps/slug-valid/slugs", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
