from __future__ import annotations

from tests.conftest import ApiClient, User


async def test_info_and_users_self(alice: User) -> None:
    account = (await alice.get("/account")).json()
    assert account["email"] == alice.email
    assert account["id"] == str(alice.id)
    for ident in ("~", alice.email, alice.email.upper(), str(alice.id)):
        assert (await alice.get(f"/users/{ident}")).json() == account


async def test_other_users_are_not_visible(alice: User, bob: User) -> None:
    assert (await alice.get(f"/users/{bob.email}")).status_code == 404
    assert (await alice.patch(f"/users/{bob.id}", json={"name": "x"})).status_code == 404
    assert (await alice.delete(f"/users/{bob.email}")).status_code == 404
    assert (await bob.get("/account")).json()["name"] is None


async def test_update_profile(alice: User) -> None:
    r = await alice.patch(
        "/account", json={"name": "Alice A", "beta": True, "allow_tracking": False}
    )
    assert r.status_code == 200
    body = r.json()
    assert (body["name"], body["beta"], body["allow_tracking"]) == ("Alice A", True, False)
    assert (await alice.patch("/users/~", json={"name": None})).json()["name"] is None


async def test_change_email_needs_current_password(alice: User, bob: User) -> None:
    r = await alice.patch("/account", json={"email": "new@example.com"})
    assert r.status_code == 422
    r = await alice.patch("/account", json={"email": "new@example.com", "password": "wrong"})
    assert r.status_code == 403
    r = await alice.patch("/account", json={"email": bob.email.upper(), "password": alice.password})
    assert r.status_code == 422
    r = await alice.patch("/account", json={"email": "New@Example.com", "password": alice.password})
    assert r.status_code == 200
    assert r.json()["email"] == "new@example.com"
    r = await alice.patch("/account", json={"email": "not-an-email", "password": alice.password})
    assert r.status_code == 422


async def test_change_password(api: ApiClient, alice: User) -> None:
    r = await alice.patch("/account", json={"new_password": "n3w", "password": "wrong"})
    assert r.status_code == 403
    r = await alice.patch("/account", json={"new_password": "n3w", "password": alice.password})
    assert r.status_code == 200
    import base64

    basic = base64.b64encode(f"{alice.email}:n3w".encode()).decode()
    r = await api.request(
        "POST", "/oauth/authorizations", headers={"Authorization": f"Basic {basic}"}, json={}
    )
    assert r.status_code == 201


async def test_delete_account_takes_owned_apps(alice: User, bob: User) -> None:
    await alice.create_app("alice-owned")
    r = await alice.delete("/account")
    assert r.status_code == 200
    assert r.json()["email"] == alice.email
    assert (await alice.get("/account")).status_code == 401
    assert (await bob.get("/apps/alice-owned")).status_code == 404


async def test_scopes(api: ApiClient, alice: User) -> None:
    identity = await api.token_for(alice, ["identity"])
    assert (await identity.get("/account")).status_code == 200
    assert (await identity.patch("/account", json={"name": "x"})).status_code == 403
    assert (await identity.get("/apps")).status_code == 403
    read = await api.token_for(alice, ["read"])
    assert (await read.get("/account")).status_code == 403
