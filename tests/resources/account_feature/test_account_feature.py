from __future__ import annotations

from tests.conftest import ApiClient, User


async def test_list_is_labs_only_and_disjoint_from_app_features(alice: User) -> None:
    await alice.create_app("feat-app")
    r = await alice.get("/account/features")
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "id, name"
    features = r.json()
    assert len(features) >= 2
    assert all(f["state"] in {"beta", "alpha"} for f in features)
    assert all(f["enabled"] is False for f in features)
    app_names = {f["name"] for f in (await alice.get("/apps/feat-app/features")).json()}
    # `labs:enable X` tries the account first, so a shared name would hide the app feature.
    assert not app_names & {f["name"] for f in features}


async def test_info_by_name_and_id(alice: User) -> None:
    feature = (await alice.get("/account/features")).json()[0]
    by_name = await alice.get(f"/account/features/{feature['name']}")
    by_id = await alice.get(f"/account/features/{feature['id']}")
    assert by_name.json() == by_id.json() == feature


async def test_unknown_feature_is_404(alice: User) -> None:
    r = await alice.get("/account/features/preboot")
    assert r.status_code == 404
    assert r.json()["resource"] == "feature"
    r = await alice.patch("/account/features/nope", json={"enabled": True})
    assert r.status_code == 404


async def test_enable_disable_is_per_account(alice: User, bob: User) -> None:
    r = await alice.patch("/account/features/dashboard-preview", json={"enabled": True})
    assert r.status_code == 200
    assert r.json()["enabled"] is True
    assert r.json()["name"] == "dashboard-preview"
    listed = {f["name"]: f["enabled"] for f in (await alice.get("/account/features")).json()}
    assert listed == {"cli-preview": False, "dashboard-preview": True}
    assert (await bob.get("/account/features/dashboard-preview")).json()["enabled"] is False
    r = await alice.patch("/account/features/dashboard-preview", json={"enabled": False})
    assert r.json()["enabled"] is False
    assert (await alice.get("/account/features/dashboard-preview")).json()["enabled"] is False


async def test_bad_body_is_422(alice: User) -> None:
    r = await alice.patch("/account/features/cli-preview", json={"enabled": "sure"})
    assert r.status_code == 422
    assert "enabled" in r.json()["message"]
    r = await alice.patch("/account/features/cli-preview", json={})
    assert r.status_code == 422
    assert (await alice.get("/account/features/cli-preview")).json()["enabled"] is False


async def test_scopes(api: ApiClient, alice: User) -> None:
    identity = await api.token_for(alice, ["identity"])
    assert (await identity.get("/account/features")).status_code == 200
    assert (await identity.get("/account/features/cli-preview")).status_code == 200
    r = await identity.patch("/account/features/cli-preview", json={"enabled": True})
    assert r.status_code == 403
    apps_only = await api.token_for(alice, ["write"])
    assert (await apps_only.get("/account/features")).status_code == 403
    assert (await alice.get("/account/features/cli-preview")).json()["enabled"] is False
