from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, User


async def _hostnames(user: User, app: str) -> list[str]:
    r = await user.get(f"/apps/{app}/domains")
    assert r.status_code == 200, r.text
    return sorted(d["hostname"] for d in r.json())


async def test_new_app_has_its_default_domain(alice: User) -> None:
    app = await alice.create_app("shop")
    r = await alice.get("/apps/shop/domains")
    assert r.status_code == 200
    assert r.headers["Accept-Ranges"] == "hostname, id"
    [domain] = r.json()
    assert domain["hostname"] == "shop.tenku.localhost"
    assert domain["kind"] == "heroku"
    assert domain["cname"] is None
    assert domain["status"] == "none"
    assert domain["app"] == {"id": app["id"], "name": "shop"}
    assert domain["sni_endpoint"] is None
    assert domain["acm_status"] is None
    assert domain["acm_status_reason"] is None


async def test_create_custom_domain(alice: User) -> None:
    app = await alice.create_app("shop")
    r = await alice.post(
        "/apps/shop/domains", json={"hostname": "WWW.Example.COM", "sni_endpoint": None}
    )
    assert r.status_code == 201, r.text
    domain = r.json()
    assert domain["hostname"] == "www.example.com"
    assert domain["kind"] == "custom"
    assert domain["cname"] == "shop.tenku.localhost"
    assert domain["status"] == "none"
    assert domain["sni_endpoint"] is None
    assert domain["app"] == {"id": app["id"], "name": "shop"}
    assert await _hostnames(alice, "shop") == ["shop.tenku.localhost", "www.example.com"]


async def test_wildcard_and_apex_domains(alice: User) -> None:
    await alice.create_app("shop")
    for host in ("*.example.org", "example.org", "a-b.c1.example.co.uk"):
        r = await alice.post("/apps/shop/domains", json={"hostname": host})
        assert r.status_code == 201, r.text
        assert r.json()["hostname"] == host
    assert "*.example.org" in await _hostnames(alice, "shop")


async def test_info_by_hostname_and_id(alice: User) -> None:
    await alice.create_app("shop")
    created = (await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})).json()
    by_id = await alice.get(f"/apps/shop/domains/{created['id']}")
    by_host = await alice.get("/apps/shop/domains/www.example.com")
    by_upper = await alice.get("/apps/shop/domains/WWW.EXAMPLE.COM")
    assert by_id.status_code == by_host.status_code == by_upper.status_code == 200
    assert by_id.json() == by_host.json() == by_upper.json() == created
    default = await alice.get("/apps/shop/domains/shop.tenku.localhost")
    assert default.json()["kind"] == "heroku"


async def test_info_missing_is_404(alice: User) -> None:
    await alice.create_app("shop")
    for ident in ("nope.example.com", "01234567-89ab-cdef-0123-456789abcdef"):
        r = await alice.get(f"/apps/shop/domains/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "domain"


async def test_domains_are_scoped_to_their_app(alice: User) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    created = (await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})).json()
    assert (await alice.get(f"/apps/blog/domains/{created['id']}")).status_code == 404
    assert (await alice.delete("/apps/blog/domains/www.example.com")).status_code == 404
    assert "www.example.com" in await _hostnames(alice, "shop")


@pytest.mark.parametrize(
    "hostname",
    [
        "",
        "localhost",
        "-bad.example.com",
        "bad-.example.com",
        "exa mple.com",
        "a..b.example.com",
        "under_score.example.com",
        "http://www.example.com",
        "www.example.com/path",
        "x" * 64 + ".example.com",
        ".".join(["abcdefghi"] * 26) + ".com",
        "1.2.3.4",
        "*.com",
        "foo.*.example.com",
        "*",
        "www.example.com.",
        "bücher.example.com",
    ],
)
async def test_invalid_hostname_is_422(alice: User, hostname: str) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/domains", json={"hostname": hostname})
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"
    assert "hostname" in r.json()["message"]
    assert await _hostnames(alice, "shop") == ["shop.tenku.localhost"]


@pytest.mark.parametrize("body", [{}, {"hostname": None}, {"hostname": 42}, {"sni": "x"}])
async def test_missing_or_mistyped_hostname_is_422(alice: User, body: dict[str, Any]) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/domains", json=body)
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"


async def test_longest_valid_hostname(alice: User) -> None:
    await alice.create_app("shop")
    host = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(host) == 253
    r = await alice.post("/apps/shop/domains", json={"hostname": host})
    assert r.status_code == 201, r.text


async def test_hostname_in_use(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    await bob.create_app("rival")
    assert (
        await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})
    ).status_code == 201
    r = await bob.post("/apps/rival/domains", json={"hostname": "WWW.example.com"})
    assert r.status_code == 422
    assert r.json() == {
        "id": "invalid_params",
        "message": "www.example.com is currently in use by another app.",
    }
    r = await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})
    assert r.status_code == 422
    assert r.json()["message"] == "www.example.com is already added to this app."
    assert await _hostnames(bob, "rival") == ["rival.tenku.localhost"]


async def test_default_domains_are_reserved(alice: User) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    for host in ("blog.tenku.localhost", "future-app.tenku.localhost", "tenku.localhost"):
        r = await alice.post("/apps/shop/domains", json={"hostname": host})
        assert r.status_code == 422, host
        assert r.json()["id"] == "invalid_params"
    # The reserved name stays free for the app that will own it.
    assert (await alice.post("/apps", json={"name": "future-app"})).status_code == 201


async def test_unknown_sni_endpoint_is_404(alice: User) -> None:
    await alice.create_app("shop")
    r = await alice.post(
        "/apps/shop/domains", json={"hostname": "www.example.com", "sni_endpoint": "tokyo-123"}
    )
    assert r.status_code == 404
    assert r.json()["resource"] == "sni_endpoint"
    assert await _hostnames(alice, "shop") == ["shop.tenku.localhost"]


async def test_delete_custom_domain(alice: User) -> None:
    await alice.create_app("shop")
    created = (await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})).json()
    other = (await alice.post("/apps/shop/domains", json={"hostname": "api.example.com"})).json()
    r = await alice.delete("/apps/shop/domains/www.example.com")
    assert r.status_code == 200
    assert r.json() == created
    r = await alice.delete(f"/apps/shop/domains/{other['id']}")
    assert r.status_code == 200
    assert r.json()["hostname"] == "api.example.com"
    assert (await alice.get("/apps/shop/domains/www.example.com")).status_code == 404
    assert await _hostnames(alice, "shop") == ["shop.tenku.localhost"]
    # A freed hostname can be claimed again.
    r = await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})
    assert r.status_code == 201


async def test_default_domain_cannot_be_deleted(alice: User) -> None:
    await alice.create_app("shop")
    r = await alice.delete("/apps/shop/domains/shop.tenku.localhost")
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert await _hostnames(alice, "shop") == ["shop.tenku.localhost"]


async def test_cname_follows_app_rename(alice: User) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})
    assert (await alice.patch("/apps/shop", json={"name": "store"})).status_code == 200
    domains = {d["hostname"]: d for d in (await alice.get("/apps/store/domains")).json()}
    assert set(domains) == {"store.tenku.localhost", "www.example.com"}
    assert domains["www.example.com"]["cname"] == "store.tenku.localhost"
    assert domains["www.example.com"]["app"]["name"] == "store"


async def test_other_user_gets_403_everywhere(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    created = (await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})).json()
    for r in (
        await bob.get("/apps/shop/domains"),
        await bob.get("/apps/shop/domains/www.example.com"),
        await bob.get(f"/apps/shop/domains/{created['id']}"),
        await bob.post("/apps/shop/domains", json={"hostname": "evil.example.com"}),
        await bob.delete("/apps/shop/domains/www.example.com"),
    ):
        assert r.status_code == 403
        assert r.json()["id"] == "forbidden"
    assert await _hostnames(alice, "shop") == ["shop.tenku.localhost", "www.example.com"]


async def test_missing_app_is_404(alice: User) -> None:
    r = await alice.get("/apps/no-such-app/domains")
    assert r.status_code == 404
    assert r.json()["resource"] == "app"


async def test_collaborator_can_manage_domains(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    assert (
        await alice.post("/apps/shop/collaborators", json={"user": bob.email})
    ).status_code == 201
    r = await bob.post("/apps/shop/domains", json={"hostname": "www.example.com"})
    assert r.status_code == 201
    assert (await bob.delete("/apps/shop/domains/www.example.com")).status_code == 200


async def test_read_scope_lists_but_cannot_write(api: ApiClient, alice: User) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/domains", json={"hostname": "www.example.com"})
    reader = await api.token_for(alice, ["read"])
    r = await reader.get("/apps/shop/domains")
    assert r.status_code == 200
    assert len(r.json()) == 2
    assert (await reader.get("/apps/shop/domains/www.example.com")).status_code == 200
    r = await reader.post("/apps/shop/domains", json={"hostname": "api.example.com"})
    assert r.status_code == 403
    assert r.json()["id"] == "forbidden"
    assert (await reader.delete("/apps/shop/domains/www.example.com")).status_code == 403
    assert await _hostnames(alice, "shop") == ["shop.tenku.localhost", "www.example.com"]


async def test_range_paging_by_hostname(alice: User) -> None:
    await alice.create_app("shop")
    for host in ("beta.example.com", "alpha.example.com"):
        await alice.post("/apps/shop/domains", json={"hostname": host})
    r = await alice.get("/apps/shop/domains", headers={"Range": "hostname ..; max=2"})
    assert r.status_code == 206
    assert [d["hostname"] for d in r.json()] == ["alpha.example.com", "beta.example.com"]
    assert r.headers["Next-Range"] == "hostname ]beta.example.com..; max=2"
    r = await alice.get("/apps/shop/domains", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert [d["hostname"] for d in r.json()] == ["shop.tenku.localhost"]
    assert "Next-Range" not in r.headers


async def test_cli_range_is_accepted(alice: User) -> None:
    await alice.create_app("shop")
    r = await alice.get("/apps/shop/domains", headers={"Range": "id ..; max=1000;"})
    assert r.status_code == 200
    assert len(r.json()) == 1
