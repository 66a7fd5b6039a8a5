"""The Build and Build Result resources, without a runtime: builds stay pending here."""

from __future__ import annotations

from tests.conftest import ApiClient, User

SOURCE = {"url": "https://example.com/source.tgz?token=xyz", "version": "v1.3.0"}


async def test_create_answers_pending_with_the_build(alice: User) -> None:
    app = await alice.create_app("bld-app")
    checksum = "SHA256:" + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    r = await alice.post(
        "/apps/bld-app/builds",
        json={"source_blob": {**SOURCE, "checksum": checksum, "version_description": "x"}},
    )
    assert r.status_code == 201, r.text
    build = r.json()
    assert build["status"] == "pending"
    assert build["app"] == {"id": app["id"]}
    assert build["slug"] is None
    assert build["release"] is None
    assert build["buildpacks"] is None
    assert build["user"] == {"email": alice.email, "id": str(alice.id)}
    assert build["source_blob"] == {**SOURCE, "checksum": checksum, "version_description": "x"}
    assert build["output_stream_url"].startswith("https://127.0.0.1:5000/streams/builds/")
    assert build["id"] in build["output_stream_url"]

    info = (await alice.get(f"/apps/bld-app/builds/{build['id']}")).json()
    assert info == build
    assert (await alice.get(f"/apps/{app['id']}/builds/{build['id']}")).json() == build
    assert (await alice.get("/apps/bld-app/builds")).json() == [build]


async def test_buildpacks_are_resolved_and_kept(alice: User) -> None:
    await alice.create_app("bld-packs")
    r = await alice.post(
        "/apps/bld-packs/builds",
        json={
            "source_blob": SOURCE,
            "buildpacks": [{"name": "heroku/nodejs"}, {"url": "urn:buildpack:heroku/python"}],
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["buildpacks"] == [
        {"url": "urn:buildpack:heroku/nodejs", "name": "heroku/nodejs"},
        {"url": "urn:buildpack:heroku/python", "name": "heroku/python"},
    ]


async def test_list_sorts_by_started_at_and_pages(alice: User) -> None:
    await alice.create_app("bld-list")
    ids = []
    for i in range(3):
        r = await alice.post(
            "/apps/bld-list/builds", json={"source_blob": {**SOURCE, "version": f"v{i}"}}
        )
        ids.append(r.json()["id"])
    r = await alice.get("/apps/bld-list/builds")
    assert r.headers["Accept-Ranges"] == "id, started_at"
    assert [b["id"] for b in r.json()] == ids
    r = await alice.get("/apps/bld-list/builds", headers={"Range": "started_at ..; max=2"})
    assert r.status_code == 206
    assert [b["id"] for b in r.json()] == ids[:2]
    r = await alice.get("/apps/bld-list/builds", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert [b["id"] for b in r.json()] == ids[2:]
    r = await alice.get(
        "/apps/bld-list/builds", headers={"Range": "started_at ..; max=1, order=desc"}
    )
    assert [b["id"] for b in r.json()] == ids[2:]


async def test_bad_input_is_422(alice: User) -> None:
    await alice.create_app("bld-bad")
    bad = [
        {},
        {"source_blob": {}},
        {"source_blob": {"url": "ftp://example.com/x.tgz"}},
        {"source_blob": {"url": "not a url"}},
        {"source_blob": {**SOURCE, "checksum": "MD5:abc"}},
        {"source_blob": {**SOURCE, "checksum": "SHA256:1234"}},
        {"source_blob": SOURCE, "buildpacks": [{}]},
        {"source_blob": SOURCE, "buildpacks": [{"name": "nobody/nothing"}]},
        {"source_blob": SOURCE, "buildpacks": "heroku/python"},
    ]
    for payload in bad:
        r = await alice.post("/apps/bld-bad/builds", json=payload)
        assert r.status_code == 422, (payload, r.text)
        assert r.json()["id"] == "invalid_params"
    r = await alice.post("/apps/bld-bad/builds", content=b"{nope")
    assert r.status_code == 400
    assert (await alice.get("/apps/bld-bad/builds")).json() == []


async def test_unknown_build_is_404(alice: User) -> None:
    await alice.create_app("bld-404")
    for ident in ("00000000-0000-0000-0000-000000000000", "nope"):
        r = await alice.get(f"/apps/bld-404/builds/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "build"
        assert (await alice.get(f"/apps/bld-404/builds/{ident}/result")).status_code == 404


async def test_builds_belong_to_their_app(alice: User) -> None:
    await alice.create_app("bld-one")
    await alice.create_app("bld-two")
    build = (await alice.post("/apps/bld-one/builds", json={"source_blob": SOURCE})).json()
    assert (await alice.get(f"/apps/bld-two/builds/{build['id']}")).status_code == 404


async def test_someone_elses_app_cannot_be_built_or_read(
    alice: User, bob: User, api: ApiClient
) -> None:
    await alice.create_app("bld-private")
    build = (await alice.post("/apps/bld-private/builds", json={"source_blob": SOURCE})).json()
    assert (
        await bob.post("/apps/bld-private/builds", json={"source_blob": SOURCE})
    ).status_code == 403
    assert (await bob.get("/apps/bld-private/builds")).status_code == 403
    assert (await bob.get(f"/apps/bld-private/builds/{build['id']}")).status_code == 403
    assert (await bob.get(f"/apps/bld-private/builds/{build['id']}/result")).status_code == 403
    assert (await api.request("GET", "/apps/bld-private/builds")).status_code == 401
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get("/apps/bld-private/builds")).status_code == 200
    r = await reader.post("/apps/bld-private/builds", json={"source_blob": SOURCE})
    assert r.status_code == 403
    # A collaborator may build.
    await alice.post("/apps/bld-private/collaborators", json={"user": bob.email})
    r = await bob.post("/apps/bld-private/builds", json={"source_blob": SOURCE})
    assert r.status_code == 201
    assert r.json()["user"]["email"] == bob.email
    assert len((await alice.get("/apps/bld-private/builds")).json()) == 2


async def test_result_of_a_pending_build(alice: User, api: ApiClient) -> None:
    await alice.create_app("bld-result")
    build = (await alice.post("/apps/bld-result/builds", json={"source_blob": SOURCE})).json()
    # Read around the reference check: it types exit_code as a number because it documents
    # finished builds; a build still running has none yet.
    r = await api.http.get(
        f"/apps/bld-result/builds/{build['id']}/result",
        headers={"Accept": "application/vnd.heroku+json; version=3", **auth(alice)},
    )
    assert r.status_code == 200
    assert r.json() == {
        "build": {
            "id": build["id"],
            "status": "pending",
            "output_stream_url": build["output_stream_url"],
        },
        "exit_code": None,
        "lines": [],
    }


def auth(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {user.token}"}


async def test_a_build_whose_runtime_stopped_beating_is_failed(alice: User, api: ApiClient) -> None:
    """A build claimed by a runtime that was killed is reported failed (the next runtime
    records it so); one claimed by a runtime that beats is pending."""
    import uuid

    from sqlalchemy import update

    from tenku.db.models import Build, RuntimeBeat

    await alice.create_app("bld-dead")
    build = (await alice.post("/apps/bld-dead/builds", json={"source_blob": SOURCE})).json()
    async with api.database.session(write=True) as db:
        await db.execute(
            update(Build).where(Build.id == uuid.UUID(build["id"])).values(runner="killed")
        )
        await db.commit()
    shown = (await alice.get(f"/apps/bld-dead/builds/{build['id']}")).json()
    assert shown["status"] == "failed"
    assert [b["status"] for b in (await alice.get("/apps/bld-dead/builds")).json()] == ["failed"]
    async with api.database.session(write=True) as db:
        db.add(RuntimeBeat(runner="killed"))
        await db.commit()
    shown = (await alice.get(f"/apps/bld-dead/builds/{build['id']}")).json()
    assert shown["status"] == "pending"
