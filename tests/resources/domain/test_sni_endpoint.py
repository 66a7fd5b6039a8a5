from __future__ import annotations

from tests.conftest import User


async def test_sni_endpoints_are_empty(alice: User) -> None:
    await alice.create_app("shop")
    r = await alice.get("/apps/shop/sni-endpoints")
    assert r.status_code == 200
    assert r.json() == []
    assert r.headers["Accept-Ranges"] == "id, name"
    assert "Content-Range" in r.headers
    assert "Next-Range" not in r.headers


async def test_sni_endpoints_need_app_access(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    r = await bob.get("/apps/shop/sni-endpoints")
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    r = await alice.get("/apps/no-such-app/sni-endpoints")
    assert r.status_code == 404
    assert r.json()["resource"] == "app"
