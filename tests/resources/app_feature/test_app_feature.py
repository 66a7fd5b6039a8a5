from __future__ import annotations

import uuid

from tests.conftest import ApiClient, User

GENERAL = {"http-session-affinity", "preboot"}
LABS = {"log-runtime-metrics", "runtime-dyno-metadata"}


async def test_list_shows_the_catalogue(alice: User) -> None:
    await alice.create_app("feat-app")
    r = await alice.get("/apps/feat-app/features")
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "id, name"
    features = {f["name"]: f for f in r.json()}
    assert set(features) >= GENERAL | LABS
    # `heroku features` lists only state == "general"; `heroku labs` lists the rest.
    assert {n for n, f in features.items() if f["state"] == "general"} == GENERAL
    assert {features[n]["state"] for n in LABS} == {"beta"}
    assert all(f["enabled"] is False for f in features.values())
    preboot = features["preboot"]
    assert preboot["description"] == "Provide seamless web dyno deploys"
    assert preboot["doc_url"].startswith("https://")
    assert preboot["display_name"] == "Preboot"
    assert isinstance(preboot["feedback_email"], str)


async def test_ids_are_stable_and_info_takes_id_or_name(alice: User) -> None:
    await alice.create_app("one-app")
    await alice.create_app("two-app")
    first = {f["name"]: f["id"] for f in (await alice.get("/apps/one-app/features")).json()}
    second = {f["name"]: f["id"] for f in (await alice.get("/apps/two-app/features")).json()}
    assert first == second
    by_name = await alice.get("/apps/one-app/features/preboot")
    by_id = await alice.get(f"/apps/one-app/features/{first['preboot']}")
    assert by_name.status_code == by_id.status_code == 200
    assert by_name.json() == by_id.json()
    assert by_name.json()["name"] == "preboot"


async def test_unknown_feature_is_404(alice: User) -> None:
    await alice.create_app("feat-app")
    for ident in ("no-such-feature", str(uuid.uuid4())):
        r = await alice.get(f"/apps/feat-app/features/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "feature"
        r = await alice.patch(f"/apps/feat-app/features/{ident}", json={"enabled": True})
        assert r.status_code == 404


async def test_enable_disable_round_trip(alice: User) -> None:
    await alice.create_app("feat-app")
    await alice.create_app("other-app")
    r = await alice.patch("/apps/feat-app/features/runtime-dyno-metadata", json={"enabled": True})
    assert r.status_code == 200
    assert r.json()["enabled"] is True
    assert r.json()["state"] == "beta"
    assert (await alice.get("/apps/feat-app/features/runtime-dyno-metadata")).json()["enabled"]
    listed = {f["name"]: f["enabled"] for f in (await alice.get("/apps/feat-app/features")).json()}
    assert listed["runtime-dyno-metadata"] is True
    assert listed["preboot"] is False
    other = (await alice.get("/apps/other-app/features/runtime-dyno-metadata")).json()
    assert other["enabled"] is False
    # Enabling twice is not an error; the CLI checks `enabled` itself.
    r = await alice.patch("/apps/feat-app/features/runtime-dyno-metadata", json={"enabled": True})
    assert r.json()["enabled"] is True
    r = await alice.patch("/apps/feat-app/features/runtime-dyno-metadata", json={"enabled": False})
    assert r.json()["enabled"] is False
    assert not (await alice.get("/apps/feat-app/features/runtime-dyno-metadata")).json()["enabled"]


async def test_bad_body_is_422_and_changes_nothing(alice: User) -> None:
    await alice.create_app("feat-app")
    bad: list[dict[str, object]] = [
        {},
        {"enabled": "maybe"},
        {"enabled": None},
        {"enabled": [True]},
        # Strings and numbers that read as booleans are not coerced either.
        {"enabled": "yes"},
        {"enabled": "true"},
        {"enabled": 2},
    ]
    for payload in bad:
        r = await alice.patch("/apps/feat-app/features/preboot", json=payload)
        assert r.status_code == 422, payload
        assert "enabled" in r.json()["message"]
    assert (await alice.get("/apps/feat-app/features/preboot")).json()["enabled"] is False


async def test_range_by_name(alice: User) -> None:
    await alice.create_app("feat-app")
    r = await alice.get("/apps/feat-app/features", headers={"Range": "name ..; max=2"})
    assert r.status_code == 206
    names = [f["name"] for f in r.json()]
    r = await alice.get("/apps/feat-app/features", headers={"Range": r.headers["Next-Range"]})
    names += [f["name"] for f in r.json()]
    assert names == sorted(GENERAL | LABS)


async def test_other_users_get_403(alice: User, bob: User) -> None:
    await alice.create_app("feat-app")
    for r in [
        await bob.get("/apps/feat-app/features"),
        await bob.get("/apps/feat-app/features/preboot"),
        await bob.patch("/apps/feat-app/features/preboot", json={"enabled": True}),
    ]:
        assert r.status_code == 403
    assert (await alice.get("/apps/feat-app/features/preboot")).json()["enabled"] is False


async def test_read_token_cannot_enable(api: ApiClient, alice: User) -> None:
    await alice.create_app("feat-app")
    reader = await api.token_for(alice, ["read"])
    assert (await reader.get("/apps/feat-app/features")).status_code == 200
    r = await reader.patch("/apps/feat-app/features/preboot", json={"enabled": True})
    assert r.status_code == 403
    assert (await alice.get("/apps/feat-app/features/preboot")).json()["enabled"] is False
