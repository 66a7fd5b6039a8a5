from __future__ import annotations

import uuid
from typing import Any

import pytest

from tenku.db.models import Collaborator
from tests.conftest import ApiClient, User

FILTERS = "application/vnd.heroku+json; version=3.filters"


def ids_of(response: Any) -> list[str]:
    return [a["id"] for a in response.json()]


async def test_returns_only_the_callers_apps(alice: User, bob: User) -> None:
    one = await alice.create_app("alice-one")
    await alice.create_app("alice-two")
    theirs = await bob.create_app("bob-one")
    wanted = [one["id"], theirs["id"], str(uuid.uuid4())]
    r = await alice.post(
        "/filters/apps",
        json={"in": {"id": wanted}},
        headers={"Accept": FILTERS, "Range": "id ..; max=1000;"},
    )
    assert r.status_code == 200
    (found,) = r.json()
    assert found.pop("joined") is False
    assert found == (await alice.get("/apps/alice-one")).json()
    assert r.headers["Accept-Ranges"] == "id, name, updated_at"


async def test_bob_sees_nothing_of_alices(alice: User, bob: User) -> None:
    apps = [await alice.create_app(f"alice-app-{n}") for n in range(3)]
    r = await bob.post("/filters/apps", json={"in": {"id": [a["id"] for a in apps]}})
    assert r.status_code == 200
    assert r.json() == []


async def test_collaborators_see_shared_apps(api: ApiClient, alice: User, bob: User) -> None:
    shared = await alice.create_app("shared-app")
    async with api.database.session(write=True) as db:
        db.add(Collaborator(app_id=uuid.UUID(shared["id"]), account_id=bob.id, role="collaborator"))
        await db.commit()
    r = await bob.post("/filters/apps", json={"in": {"id": [shared["id"]]}})
    assert ids_of(r) == [shared["id"]]
    assert r.json()[0]["owner"]["email"] == "alice@example.com"


async def test_paging(alice: User) -> None:
    apps = [await alice.create_app(f"paged-app-{n}") for n in range(3)]
    body = {"in": {"id": [a["id"] for a in apps]}}
    r = await alice.post("/filters/apps", json=body, headers={"Range": "id ..; max=2;"})
    assert r.status_code == 206
    seen = ids_of(r)
    r = await alice.post("/filters/apps", json=body, headers={"Range": r.headers["Next-Range"]})
    assert r.status_code == 200
    assert "Next-Range" not in r.headers
    seen += ids_of(r)
    assert seen == sorted(a["id"] for a in apps)


async def test_empty_list_and_duplicates(alice: User) -> None:
    app = await alice.create_app("dup-app")
    assert (await alice.post("/filters/apps", json={"in": {"id": []}})).json() == []
    r = await alice.post("/filters/apps", json={"in": {"id": [app["id"], app["id"].upper()]}})
    assert ids_of(r) == [app["id"]]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"in": {}},
        {"in": {"id": "not-a-list"}},
        {"in": {"id": ["not-a-uuid"]}},
        {"in": {"id": [42]}},
        {"in": ["x"]},
        {"in": {"id": [str(uuid.uuid4()) for _ in range(1001)]}},
    ],
)
async def test_bad_bodies_are_422(alice: User, payload: dict[str, Any]) -> None:
    r = await alice.post("/filters/apps", json=payload)
    assert r.status_code == 422, r.text
    assert r.json()["id"] == "invalid_params"


async def test_needs_app_read_scope(api: ApiClient, alice: User) -> None:
    app = await alice.create_app("scoped-app")
    identity = await api.token_for(alice, ["identity"])
    r = await identity.post("/filters/apps", json={"in": {"id": [app["id"]]}})
    assert r.status_code == 403
    reader = await api.token_for(alice, ["read"])
    r = await reader.post("/filters/apps", json={"in": {"id": [app["id"]]}})
    assert ids_of(r) == [app["id"]]
