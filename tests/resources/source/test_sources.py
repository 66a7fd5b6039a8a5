from __future__ import annotations

import httpx

from tests.conftest import ApiClient, User


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


async def test_source_urls_are_on_tenku_unguessable_and_work_without_auth(
    alice: User, api: ApiClient
) -> None:
    await alice.create_app("src-app")
    r = await alice.post("/apps/src-app/sources")
    assert r.status_code == 201
    blob = r.json()["source_blob"]
    assert set(r.json()) == {"source_blob"}
    assert blob["put_url"].startswith("https://127.0.0.1:5000/blobs/")
    assert blob["get_url"].startswith("https://127.0.0.1:5000/blobs/")
    assert blob["put_url"] != blob["get_url"]
    again = (await alice.post("/apps/src-app/sources")).json()["source_blob"]
    assert again["put_url"] != blob["put_url"]
    # The CLI's upload: raw bytes and their length, nothing else.
    r = await api.http.put(path_of(blob["put_url"]), content=b"\x1f\x8b source")
    assert r.status_code == 200
    r = await api.http.get(path_of(blob["get_url"]))
    assert r.content == b"\x1f\x8b source"
    # Each source is its own blob.
    assert (await api.http.get(path_of(again["get_url"]))).status_code == 404


async def test_app_less_sources(alice: User, api: ApiClient) -> None:
    r = await alice.post("/sources")
    assert r.status_code == 201
    blob = r.json()["source_blob"]
    assert (await api.http.put(path_of(blob["put_url"]), content=b"ci")).status_code == 200
    assert (await api.http.get(path_of(blob["get_url"]))).content == b"ci"


async def test_sources_need_credentials_access_and_write_scope(
    alice: User, bob: User, api: ApiClient
) -> None:
    await alice.create_app("src-private")
    assert (await api.request("POST", "/apps/src-private/sources")).status_code == 401
    assert (await api.request("POST", "/sources")).status_code == 401
    r = await bob.post("/apps/src-private/sources")
    assert r.status_code == 403
    reader = await api.token_for(alice, ["read"])
    assert (await reader.post("/apps/src-private/sources")).status_code == 403
    assert (await reader.post("/sources")).status_code == 403
    assert (await alice.post("/apps/nope-nope/sources")).status_code == 404
    # A collaborator deploys too.
    await alice.post("/apps/src-private/collaborators", json={"user": bob.email})
    assert (await bob.post("/apps/src-private/sources")).status_code == 201
