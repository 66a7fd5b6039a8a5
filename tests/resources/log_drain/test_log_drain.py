from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import ApiClient, User

TOKEN_RE = re.compile(r"^d\.[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")


async def _urls(user: User, app: str) -> list[str]:
    r = await user.get(f"/apps/{app}/log-drains")
    assert r.status_code == 200, r.text
    return sorted(d["url"] for d in r.json())


async def test_create_and_list(alice: User) -> None:
    await alice.create_app("shop")
    assert await _urls(alice, "shop") == []
    r = await alice.post("/apps/shop/log-drains", json={"url": "https://logs.example.com/drain"})
    assert r.status_code == 201, r.text
    drain = r.json()
    assert drain["url"] == "https://logs.example.com/drain"
    assert drain["addon"] is None
    assert TOKEN_RE.match(drain["token"])
    assert "extended" not in drain
    r = await alice.get("/apps/shop/log-drains")
    assert r.headers["Accept-Ranges"] == "id, url"
    assert r.json() == [drain]


@pytest.mark.parametrize(
    "url",
    [
        "syslog://logs.example.com:514",
        "syslog+tls://logs.example.com:6514",
        "https://user:secret@logs.example.com/drain?x=1",
        "http://10.0.0.5:8080/logs",
        "HTTPS://logs.example.com/upper",
    ],
)
async def test_accepted_urls(alice: User, url: str) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/log-drains", json={"url": url})
    assert r.status_code == 201, r.text
    assert r.json()["url"] == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "logs.example.com:514",
        "ftp://logs.example.com/",
        "syslog://logs.example.com",
        "syslog+tls://logs.example.com",
        "syslog://:514",
        "https:///drain",
        "https://logs.example.com:99999/",
        "syslog://logs.example.com:0",
        "https://logs.example.com/a b",
        "https://[::1/",
        "tcp://logs.example.com:514",
    ],
)
async def test_rejected_urls(alice: User, url: str) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/log-drains", json={"url": url})
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"
    assert "url" in r.json()["message"]
    assert await _urls(alice, "shop") == []


@pytest.mark.parametrize("body", [{}, {"url": None}, {"url": 5}])
async def test_missing_url_is_422(alice: User, body: dict[str, Any]) -> None:
    await alice.create_app("shop")
    r = await alice.post("/apps/shop/log-drains", json=body)
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"


async def test_same_url_twice_is_422(alice: User) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    url = "syslog+tls://logs.example.com:6514"
    assert (await alice.post("/apps/shop/log-drains", json={"url": url})).status_code == 201
    r = await alice.post("/apps/shop/log-drains", json={"url": url})
    assert r.status_code == 422
    assert r.json()["id"] == "invalid_params"
    assert await _urls(alice, "shop") == [url]
    # Another app may drain to the same place.
    assert (await alice.post("/apps/blog/log-drains", json={"url": url})).status_code == 201


@pytest.mark.parametrize(
    "url", ["https://logs.example.com/drain", "https://u:p%40ss@logs.example.com/d?k=a%2Fb&x=1"]
)
async def test_info_by_id_url_and_token(alice: User, url: str) -> None:
    await alice.create_app("shop")
    drain = (await alice.post("/apps/shop/log-drains", json={"url": url})).json()
    for ident in (drain["id"], drain["token"], quote(url, safe="")):
        r = await alice.get(f"/apps/shop/log-drains/{ident}")
        assert r.status_code == 200, ident
        assert r.json() == drain


async def test_info_missing_is_404(alice: User) -> None:
    await alice.create_app("shop")
    for ident in ("01234567-89ab-cdef-0123-456789abcdef", "d.nope", "syslog%3A%2F%2Fx%3A1"):
        r = await alice.get(f"/apps/shop/log-drains/{ident}")
        assert r.status_code == 404
        assert r.json()["resource"] == "log_drain"


async def test_delete_by_percent_encoded_url_as_the_cli_sends_it(alice: User) -> None:
    await alice.create_app("shop")
    drain = (
        await alice.post("/apps/shop/log-drains", json={"url": "https://logs.example.com/drain"})
    ).json()
    r = await alice.delete("/apps/shop/log-drains/https%3A%2F%2Flogs.example.com%2Fdrain")
    assert r.status_code == 200, r.text
    assert r.json() == drain
    assert await _urls(alice, "shop") == []


async def test_delete_by_id_and_token(alice: User) -> None:
    await alice.create_app("shop")
    first = (
        await alice.post("/apps/shop/log-drains", json={"url": "syslog://a.example.com:514"})
    ).json()
    second = (
        await alice.post("/apps/shop/log-drains", json={"url": "syslog://b.example.com:514"})
    ).json()
    r = await alice.delete(f"/apps/shop/log-drains/{first['id']}")
    assert r.json() == first
    r = await alice.delete(f"/apps/shop/log-drains/{second['token']}")
    assert r.json() == second
    assert await _urls(alice, "shop") == []
    r = await alice.delete(f"/apps/shop/log-drains/{first['id']}")
    assert r.status_code == 404


async def test_drains_are_scoped_to_their_app(alice: User) -> None:
    await alice.create_app("shop")
    await alice.create_app("blog")
    drain = (
        await alice.post("/apps/shop/log-drains", json={"url": "syslog://a.example.com:514"})
    ).json()
    for ident in (drain["id"], drain["token"]):
        assert (await alice.get(f"/apps/blog/log-drains/{ident}")).status_code == 404
        assert (await alice.delete(f"/apps/blog/log-drains/{ident}")).status_code == 404
    assert await _urls(alice, "shop") == ["syslog://a.example.com:514"]


async def test_extended(alice: User) -> None:
    await alice.create_app("shop")
    drain = (
        await alice.post("/apps/shop/log-drains", json={"url": "syslog://a.example.com:514"})
    ).json()
    [listed] = (await alice.get("/apps/shop/log-drains?extended=true")).json()
    assert listed["extended"] == {"drain_id": drain["id"]}
    one = (await alice.get(f"/apps/shop/log-drains/{drain['id']}?extended=true")).json()
    assert one["extended"] == {"drain_id": drain["id"]}


async def test_other_user_gets_403_and_never_sees_urls(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    secret = "https://user:secret@logs.example.com/drain"
    drain = (await alice.post("/apps/shop/log-drains", json={"url": secret})).json()
    for r in (
        await bob.get("/apps/shop/log-drains"),
        await bob.get(f"/apps/shop/log-drains/{drain['id']}"),
        await bob.get(f"/apps/shop/log-drains/{drain['token']}"),
        await bob.post("/apps/shop/log-drains", json={"url": "syslog://evil.example.com:1"}),
        await bob.delete(f"/apps/shop/log-drains/{drain['id']}"),
    ):
        assert r.status_code == 403
        assert r.json()["id"] == "forbidden"
        assert "secret" not in r.text
    assert await _urls(alice, "shop") == [secret]


async def test_collaborator_can_read_and_manage(alice: User, bob: User) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/collaborators", json={"user": bob.email})
    r = await bob.post("/apps/shop/log-drains", json={"url": "syslog://a.example.com:514"})
    assert r.status_code == 201
    assert await _urls(bob, "shop") == ["syslog://a.example.com:514"]
    assert (await bob.delete(f"/apps/shop/log-drains/{r.json()['token']}")).status_code == 200


async def test_read_scope_lists_but_cannot_write(api: ApiClient, alice: User) -> None:
    await alice.create_app("shop")
    await alice.post("/apps/shop/log-drains", json={"url": "syslog://a.example.com:514"})
    reader = await api.token_for(alice, ["read"])
    assert len((await reader.get("/apps/shop/log-drains")).json()) == 1
    r = await reader.post("/apps/shop/log-drains", json={"url": "syslog://b.example.com:514"})
    assert r.status_code == 403
    r = await reader.delete("/apps/shop/log-drains/syslog%3A%2F%2Fa.example.com%3A514")
    assert r.status_code == 403
    assert await _urls(alice, "shop") == ["syslog://a.example.com:514"]


async def test_range_paging_by_url(alice: User) -> None:
    await alice.create_app("shop")
    urls = [f"syslog://{c}.example.com:514" for c in "cab"]
    for url in urls:
        await alice.post("/apps/shop/log-drains", json={"url": url})
    r = await alice.get("/apps/shop/log-drains", headers={"Range": "url ..; max=2"})
    assert r.status_code == 206
    assert [d["url"] for d in r.json()] == sorted(urls)[:2]
    r = await alice.get("/apps/shop/log-drains", headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert [d["url"] for d in r.json()] == sorted(urls)[2:]
    assert "Next-Range" not in r.headers
