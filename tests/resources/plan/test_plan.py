"""Plans of the catalogue's services, with prices."""

from __future__ import annotations

from tests.conftest import User


async def test_list_and_info(alice: User) -> None:
    r = await alice.get("/addon-services/heroku-postgresql/plans")
    assert r.status_code == 200
    plans = {p["name"]: p for p in r.json()}
    assert set(plans) == {
        "heroku-postgresql:hobby-dev",
        "heroku-postgresql:essential-0",
        "heroku-postgresql:essential-1",
        "heroku-postgresql:essential-2",
        "heroku-postgresql:hobby-basic",
        "heroku-postgresql:standard-0",
        "heroku-postgresql:premium-0",
    }
    dev = plans["heroku-postgresql:hobby-dev"]
    assert dev["default"] is True
    assert dev["price"] == {"cents": 0, "unit": "month", "contract": False, "metered": False}
    assert dev["human_name"] == "Hobby Dev"
    assert dev["state"] == "public"
    assert dev["installable_outside_private_network"] is True
    assert dev["addon_service"]["name"] == "heroku-postgresql"
    assert plans["heroku-postgresql:standard-0"]["price"]["cents"] == 5000
    assert [p["default"] for p in plans.values()].count(True) == 1
    for ident in ("hobby-dev", "heroku-postgresql:hobby-dev", dev["id"]):
        r = await alice.get(f"/addon-services/heroku-postgresql/plans/{ident}")
        assert r.json() == dev, ident
    service_id = dev["addon_service"]["id"]
    assert (await alice.get(f"/addon-services/{service_id}/plans/hobby-dev")).json() == dev
    r = await alice.get("/addon-services/heroku-postgresql/plans/nope")
    assert (r.status_code, r.json()["resource"]) == (404, "plan")
    r = await alice.get("/addon-services/nope/plans")
    assert r.status_code == 404


async def test_paging(alice: User) -> None:
    r = await alice.get("/addon-services/heroku-redis/plans", headers={"Range": "name ..; max=3"})
    assert r.status_code == 206
    first = [p["name"] for p in r.json()]
    assert len(first) == 3
    r = await alice.get(
        "/addon-services/heroku-redis/plans", headers={"Range": r.headers["Next-Range"]}
    )
    assert r.status_code == 200
    rest = [p["name"] for p in r.json()]
    assert len(rest) == 1
    assert sorted(first + rest) == first + rest
    assert "heroku-redis:mini" in first + rest
