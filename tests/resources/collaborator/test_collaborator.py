from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, User


async def _emails(user: User, app: str) -> list[str]:
    r = await user.get(f"/apps/{app}/collaborators")
    assert r.status_code == 200, r.text
    return sorted(c["user"]["email"] for c in r.json())


@pytest.fixture
async def carol(api: ApiClient) -> User:
    return await api.user("carol@example.com")


async def test_owner_is_listed_once_with_role_owner(alice: User) -> None:
    app = await alice.create_app("shop")
    r = await alice.get("/apps/shop/collaborators")
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "email, id"
    [owner] = r.json()
    assert owner["role"] == "owner"
    assert owner["permissions"] == []
    assert owner["user"] == {"email": alice.email, "federated": False, "id": str(alice.id)}
    assert owner["app"] == {"id": app["id"], "name": "shop"}


async def test_add_by_email_grants_access(alice: User, bob: User) -> None:
    app = await alice.create_app("shop")
    assert (await bob.get("/apps/shop")).status_code == 403
    r = await alice.post("/apps/shop/collaborators", json={"user": "Bob@Example.com"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["role"] == "collaborator"
    assert created["permissions"] == []
    assert created["user"] == {"email": bob.email, "federated": False, "id": str(bob.id)}
    assert created["app"] == {"id": app["id"], "name": "shop"}
    assert (await bob.get("/apps/shop")).status_code == 200
    assert await _emails(bob, "shop") == [alice.email, bob.email]
    roles = {
        c["user"]["email"]: c["role"] for c in (await alice.get("/apps/shop/collaborators")).json()
    }
    assert roles == {alice.email: "owner", bob.email: "collaborator"}


async def test_add_by_user_id_with_silent(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/collaborators", json={"user": str(bob.id), "silent": True})
    assert r.status_code == 201, r.text
    assert r.json()["user"]["email"] == bob.email


async def test_info_by_email_collaborator_id_and_user_id(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    created = (await alice.post("/apps/shop/collaborators", json={"user": bob.email})).json()
    for ident in (bob.email, "BOB@example.COM", created["id"], str(bob.id)):
        r = await alice.get(f"/apps/shop/collaborators/{ident}")
        assert r.status_code == 200, ident
        assert r.json() == created
    r = await bob.get(f"/apps/shop/collaborators/{alice.email}")
    assert r.status_code == 200
    assert r.json()["role"] == "owner"


async def test_info_missing_is_404(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    for ident in (bob.email, str(bob.id), "nobody@example.com"):
        r = await alice.get(f"/apps/shop/collaborators/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "collaborator"


async def test_unknown_user_is_404(alice: User) -> None:
    await alice.create_app("shop")
    for user in ("ghost@example.com", "01234567-89ab-cdef-0123-456789abcdef"):
        r = await alice.post("/apps/shop/collaborators", json={"user": user})
        assert r.status_code == 404
        assert r.json()["resource"] == "user"
    assert await _emails(alice, "shop") == [alice.email]


async def test_duplicate_or_owner_is_422(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/collaborators", json={"user": bob.email})
    for user in (bob.email, str(bob.id), alice.email, "~"):
        r = await alice.post("/apps/shop/collaborators", json={"user": user})
        assert r.status_code == 422, user
        assert r.json()["id"] == "invalid_params"
    assert await _emails(alice, "shop") == [alice.email, bob.email]


@pytest.mark.parametrize(
    "body", [{}, {"user": ""}, {"user": None}, {"user": 7}, {"user": "x@y.z", "silent": "loud"}]
)
async def test_bad_body_is_422(alice: User, body: dict[str, Any]) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/collaborators", json=body)
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"


async def test_non_json_body_is_400(alice: User) -> None:
    await alice.create_app("shop")
    r = await alice.post(
        "/apps/shop/collaborators",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["id"] == "bad_request"


async def test_stranger_gets_403_everywhere(alice: User, bob: User, carol: User) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/collaborators", json={"user": carol.email})
    for r in (
        await bob.get("/apps/shop/collaborators"),
        await bob.get(f"/apps/shop/collaborators/{carol.email}"),
        await bob.post("/apps/shop/collaborators", json={"user": bob.email}),
        await bob.delete(f"/apps/shop/collaborators/{carol.email}"),
    ):
        assert r.status_code == 403
        assert r.json()["id"] == "forbidden"
    assert await _emails(alice, "shop") == [alice.email, carol.email]


async def test_collaborator_cannot_add_or_remove_others(
    alice: User, bob: User, carol: User
) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/collaborators", json={"user": bob.email})
    await alice.post("/apps/shop/collaborators", json={"user": carol.email})
    r = await bob.post("/apps/shop/collaborators", json={"user": "dave@example.com"})
    assert r.status_code == 403
    r = await bob.delete(f"/apps/shop/collaborators/{carol.email}")
    assert r.status_code == 403
    r = await bob.delete(f"/apps/shop/collaborators/{alice.email}")
    assert r.status_code == 403
    assert await _emails(alice, "shop") == [alice.email, bob.email, carol.email]


async def test_collaborator_may_leave(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    created = (await alice.post("/apps/shop/collaborators", json={"user": bob.email})).json()
    r = await bob.delete(f"/apps/shop/collaborators/{bob.email}")
    assert r.status_code == 200
    assert r.json() == created
    assert (await bob.get("/apps/shop")).status_code == 403
    assert await _emails(alice, "shop") == [alice.email]


async def test_owner_removes_collaborator(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    created = (await alice.post("/apps/shop/collaborators", json={"user": bob.email})).json()
    r = await alice.delete(f"/apps/shop/collaborators/{created['id']}")
    assert r.status_code == 200
    assert r.json() == created
    assert (await bob.get("/apps/shop/collaborators")).status_code == 403
    r = await alice.delete(f"/apps/shop/collaborators/{bob.email}")
    assert r.status_code == 404
    assert r.json()["resource"] == "collaborator"


async def test_owner_cannot_be_removed(alice: User) -> None:
    await alice.create_app("shop")
    for ident in (alice.email, str(alice.id)):
        r = await alice.delete(f"/apps/shop/collaborators/{ident}")
        assert r.status_code == 422
        assert r.json()["id"] == "invalid_params"
    assert (await alice.get("/apps/shop")).status_code == 200
    assert await _emails(alice, "shop") == [alice.email]


async def test_read_scope_lists_but_cannot_write(api: ApiClient, alice: User, bob: User) -> None:
    await alice.create_app("shop")
    reader = await api.token_for(alice, ["read"])
    r = await reader.get("/apps/shop/collaborators")
    assert r.status_code == 200
    assert len(r.json()) == 1
    r = await reader.post("/apps/shop/collaborators", json={"user": bob.email})
    assert r.status_code == 403
    assert await _emails(alice, "shop") == [alice.email]


async def test_range_paging_by_email(alice: User, bob: User, carol: User) -> None:
    await alice.create_app("shop")
    for user in (carol, bob):
        await alice.post("/apps/shop/collaborators", json={"user": user.email})
    r = await alice.get("/apps/shop/collaborators", headers={"Range": "email ..; max=2"})
    assert r.status_code == 206
    assert [c["user"]["email"] for c in r.json()] == [alice.email, bob.email]
    assert r.headers["Next-Range"] == f"email ]{bob.email}..; max=2"
    r = await alice.get("/apps/shop/collaborators", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert [c["user"]["email"] for c in r.json()] == [carol.email]
    assert "Next-Range" not in r.headers


async def test_range_paging_by_id(alice: User, bob: User, carol: User) -> None:
    await alice.create_app("shop")
    for user in (bob, carol):
        await alice.post("/apps/shop/collaborators", json={"user": user.email})
    r = await alice.get("/apps/shop/collaborators", headers={"Range": "id ..; max=1"})
    assert r.status_code == 206
    seen = [c["id"] for c in r.json()]
    while r.status_code == 206:
        r = await alice.get("/apps/shop/collaborators", headers={"Range": r.headers["Next-Range"]})
        seen += [c["id"] for c in r.json()]
    assert len(seen) == 3
    assert seen == sorted(seen)
