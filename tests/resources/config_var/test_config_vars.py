from __future__ import annotations

import asyncio

from tests.conftest import ApiClient, User


async def test_set_unset_and_release_descriptions(alice: User) -> None:
    await alice.create_app("cfg-app")
    r = await alice.patch("/apps/cfg-app/config-vars", json={"FOO": "bar", "BAZ": "qux"})
    assert r.status_code == 200
    assert r.json() == {"BAZ": "qux", "FOO": "bar"}
    r = await alice.patch("/apps/cfg-app/config-vars", json={"FOO": None})
    assert r.json() == {"BAZ": "qux"}
    assert (await alice.get("/apps/cfg-app/config-vars")).json() == {"BAZ": "qux"}
    releases = (await alice.get("/apps/cfg-app/releases")).json()
    assert [(x["version"], x["description"]) for x in releases] == [
        (1, "Initial release"),
        (2, "Set FOO, BAZ config vars"),
        (3, "Remove FOO config vars"),
    ]
    assert [x["current"] for x in releases] == [False, False, True]


async def test_values_must_be_strings_and_names_valid(alice: User) -> None:
    await alice.create_app("cfg-bad")
    for body in ({"A": {"nested": 1}}, {"A": [1]}, {"BAD NAME": "x"}):
        r = await alice.patch("/apps/cfg-bad/config-vars", json=body)
        assert r.status_code == 422, body
        assert r.json()["id"] == "invalid_params"
    assert (await alice.get("/apps/cfg-bad/config-vars")).json() == {}
    assert len((await alice.get("/apps/cfg-bad/releases")).json()) == 1


async def test_values_that_no_dyno_could_start_with_are_refused(alice: User) -> None:
    """Numbers and booleans are not made strings, a NUL byte or a lone surrogate never
    reaches a process environment, and an app's config stays within 32 kB."""
    await alice.create_app("cfg-harm")
    bodies: list[dict[str, object]] = [
        {"A": 1},
        {"A": 1.5},
        {"A": True},
        {"A": "nul\u0000here"},
        {"A": "x" * (32 * 1024)},
    ]
    for body in bodies:
        r = await alice.patch("/apps/cfg-harm/config-vars", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["id"] == "invalid_params"
    # A lone surrogate (JSON can escape one), in a value or in a key.
    for raw in (b'{"A": "\\udc00"}', b'{"\\udc00": "x"}'):
        r = await alice.patch(
            "/apps/cfg-harm/config-vars",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 422, (raw, r.text)
    assert (await alice.get("/apps/cfg-harm/config-vars")).json() == {}
    assert len((await alice.get("/apps/cfg-harm/releases")).json()) == 1
    # Up to the limit is fine, and an app over it may still shrink.
    r = await alice.patch("/apps/cfg-harm/config-vars", json={"BIG": "x" * (30 * 1024)})
    assert r.status_code == 200, r.text
    r = await alice.patch("/apps/cfg-harm/config-vars", json={"MORE": "y" * 4096})
    assert r.status_code == 422, r.text
    r = await alice.patch("/apps/cfg-harm/config-vars", json={"BIG": None})
    assert r.status_code == 200, r.text


async def test_deeply_nested_bodies_are_a_bad_request(alice: User) -> None:
    await alice.create_app("cfg-deep")
    for depth in (40, 100_000):
        raw = b'{"A": ' + b"[" * depth + b"]" * depth + b"}"
        for path in ("/apps", "/apps/cfg-deep/config-vars"):
            method = alice.post if path == "/apps" else alice.patch
            r = await method(path, content=raw, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (depth, path, r.text)
            assert r.json()["id"] == "bad_request"


async def test_empty_patch_makes_no_release(alice: User) -> None:
    await alice.create_app("cfg-empty")
    r = await alice.patch("/apps/cfg-empty/config-vars", json={})
    assert r.status_code == 200
    assert len((await alice.get("/apps/cfg-empty/releases")).json()) == 1


async def test_other_user_cannot_read_or_write(alice: User, bob: User) -> None:
    await alice.create_app("cfg-secret")
    await alice.patch("/apps/cfg-secret/config-vars", json={"TOKEN": "s3cret"})
    assert (await bob.get("/apps/cfg-secret/config-vars")).status_code == 403
    r = await bob.patch("/apps/cfg-secret/config-vars", json={"TOKEN": "mine"})
    assert r.status_code == 403
    assert (await alice.get("/apps/cfg-secret/config-vars")).json() == {"TOKEN": "s3cret"}


async def test_scopes_guard_secrets(api: ApiClient, alice: User) -> None:
    await alice.create_app("cfg-scope")
    await alice.patch("/apps/cfg-scope/config-vars", json={"K": "v"})
    read = await api.token_for(alice, ["read"])
    assert (await read.get("/apps/cfg-scope")).status_code == 200
    assert (await read.get("/apps/cfg-scope/config-vars")).status_code == 403
    assert (await read.get("/apps/cfg-scope/releases/2/config-vars")).status_code == 403
    write = await api.token_for(alice, ["write"])
    assert (await write.patch("/apps/cfg-scope/config-vars", json={"K": "w"})).status_code == 403
    protected = await api.token_for(alice, ["read-protected"])
    assert (await protected.get("/apps/cfg-scope/config-vars")).json() == {"K": "v"}
    assert (
        await protected.patch("/apps/cfg-scope/config-vars", json={"K": "x"})
    ).status_code == 403
    wp = await api.token_for(alice, ["write-protected"])
    assert (await wp.patch("/apps/cfg-scope/config-vars", json={"K": "x"})).status_code == 200


async def test_concurrent_changes_get_distinct_versions(alice: User) -> None:
    await alice.create_app("cfg-race")
    results = await asyncio.gather(
        *(alice.patch("/apps/cfg-race/config-vars", json={f"K{i}": str(i)}) for i in range(12))
    )
    assert all(r.status_code == 200 for r in results)
    releases = (await alice.get("/apps/cfg-race/releases")).json()
    assert [x["version"] for x in releases] == list(range(1, 14))
    config = (await alice.get("/apps/cfg-race/config-vars")).json()
    assert config == {f"K{i}": str(i) for i in range(12)}
