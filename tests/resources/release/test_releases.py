from __future__ import annotations

from tests.conftest import User


async def test_info_by_version_and_id(alice: User) -> None:
    await alice.create_app("rel-app")
    await alice.patch("/apps/rel-app/config-vars", json={"A": "1"})
    by_version = (await alice.get("/apps/rel-app/releases/2")).json()
    by_id = (await alice.get(f"/apps/rel-app/releases/{by_version['id']}")).json()
    assert by_version == by_id
    assert by_version["description"] == "Set A config vars"
    assert by_version["user"]["email"] == alice.email
    assert by_version["eligible_for_rollback"] is True
    assert by_version["addon_plan_names"] == []
    assert (await alice.get("/apps/rel-app/releases/99")).status_code == 404
    assert (await alice.get("/apps/rel-app/releases/nope")).json()["resource"] == "release"


async def test_release_config_vars_are_a_snapshot(alice: User) -> None:
    await alice.create_app("rel-snap")
    await alice.patch("/apps/rel-snap/config-vars", json={"A": "1"})
    await alice.patch("/apps/rel-snap/config-vars", json={"A": "2", "B": "x"})
    assert (await alice.get("/apps/rel-snap/releases/2/config-vars")).json() == {"A": "1"}
    assert (await alice.get("/apps/rel-snap/releases/3/config-vars")).json() == {
        "A": "2",
        "B": "x",
    }
    assert (await alice.get("/apps/rel-snap/releases/1/config-vars")).json() == {}


async def test_rollback_copies_an_old_release(alice: User) -> None:
    await alice.create_app("rel-back")
    await alice.patch("/apps/rel-back/config-vars", json={"A": "1"})
    await alice.patch("/apps/rel-back/config-vars", json={"A": "2"})
    v2 = (await alice.get("/apps/rel-back/releases/2")).json()
    r = await alice.post("/apps/rel-back/releases", json={"release": v2["id"]})
    assert r.status_code == 201
    rolled = r.json()
    assert rolled["version"] == 4
    assert rolled["description"] == "Rollback to v2"
    assert rolled["current"] is True
    assert (await alice.get("/apps/rel-back/config-vars")).json() == {"A": "1"}
    listed = (await alice.get("/apps/rel-back/releases")).json()
    assert sum(x["current"] for x in listed) == 1
    # Old releases are untouched.
    assert (await alice.get("/apps/rel-back/releases/3/config-vars")).json() == {"A": "2"}
    # The version number works as well as the id.
    r = await alice.post("/apps/rel-back/releases", json={"release": "1"})
    assert r.json()["description"] == "Rollback to v1"
    assert (await alice.get("/apps/rel-back/config-vars")).json() == {}


async def test_release_create_needs_slug_or_release(alice: User) -> None:
    await alice.create_app("rel-bad")
    r = await alice.post("/apps/rel-bad/releases", json={})
    assert r.status_code == 422
    r = await alice.post(
        "/apps/rel-bad/releases", json={"release": "00000000-0000-0000-0000-000000000000"}
    )
    assert r.status_code == 404
    r = await alice.post(
        "/apps/rel-bad/releases", json={"slug": "00000000-0000-0000-0000-000000000000"}
    )
    assert r.status_code == 404
    assert r.json()["resource"] == "slug"
    # A bad slug beside a good release is not ignored for a rollback.
    r = await alice.post("/apps/rel-bad/releases", json={"slug": "x", "release": "1"})
    assert r.status_code == 422, r.text
    assert len((await alice.get("/apps/rel-bad/releases")).json()) == 1


async def test_versions_past_a_64_bit_integer_name_no_release(alice: User) -> None:
    await alice.create_app("rel-big")
    huge = str(2**63)
    for path in (f"/apps/rel-big/releases/{huge}", f"/apps/rel-big/releases/v{2**64}"):
        r = await alice.get(path)
        assert r.status_code == 404, (path, r.text)
    r = await alice.post("/apps/rel-big/releases", json={"release": huge})
    assert r.status_code == 404, r.text
    for header in (f"version {huge}..", f"version 1..{2**70}"):
        r = await alice.get("/apps/rel-big/releases", headers={"Range": header})
        assert r.status_code == 400, (header, r.text)
        assert r.json()["id"] == "bad_request"
    # The largest version that fits is merely absent.
    r = await alice.get(f"/apps/rel-big/releases/{2**63 - 1}")
    assert r.status_code == 404


async def test_other_user_cannot_see_or_roll_back(alice: User, bob: User) -> None:
    await alice.create_app("rel-private")
    assert (await bob.get("/apps/rel-private/releases")).status_code == 403
    assert (await bob.get("/apps/rel-private/releases/1")).status_code == 403
    assert (await bob.get("/apps/rel-private/releases/1/config-vars")).status_code == 403
    r = await bob.post("/apps/rel-private/releases", json={"release": "1"})
    assert r.status_code == 403
    assert len((await alice.get("/apps/rel-private/releases")).json()) == 1
