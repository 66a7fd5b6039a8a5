from __future__ import annotations

from tests.conftest import User


async def test_list_and_info(alice: User) -> None:
    stacks = (await alice.get("/stacks")).json()
    assert "heroku-24" in [s["name"] for s in stacks]
    assert [s["name"] for s in stacks if s["default"]] == ["heroku-24"]
    for stack in stacks:
        assert (await alice.get(f"/stacks/{stack['name']}")).json() == stack
        assert (await alice.get(f"/stacks/{stack['id']}")).json() == stack
    assert (await alice.get("/stacks/nope")).status_code == 404


async def test_build_stack_update(alice: User) -> None:
    await alice.create_app("stack-app")
    r = await alice.patch("/apps/stack-app", json={"build_stack": "heroku-22"})
    assert r.json()["build_stack"]["name"] == "heroku-22"
    assert r.json()["stack"]["name"] == "heroku-24"
    r = await alice.patch("/apps/stack-app", json={"build_stack": "nope"})
    assert r.status_code == 422
