from __future__ import annotations

from tests.conftest import User


async def test_list_and_info(alice: User) -> None:
    regions = (await alice.get("/regions")).json()
    names = [r["name"] for r in regions]
    assert {"us", "eu"} <= set(names)
    for region in regions:
        assert (await alice.get(f"/regions/{region['name']}")).json() == region
        assert (await alice.get(f"/regions/{region['id']}")).json() == region
    assert (await alice.get("/regions/mars")).status_code == 404


async def test_range_over_catalogue(alice: User) -> None:
    r = await alice.get("/regions", headers={"Range": "name ..; max=1"})
    assert r.status_code == 206
    first = r.json()[0]["name"]
    r = await alice.get("/regions", headers={"Range": r.headers["next-range"]})
    assert r.json()[0]["name"] > first
