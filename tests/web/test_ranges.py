"""Range headers as real clients send them, and keyset paging through HTTP."""

from __future__ import annotations

import pytest

from tenku.web.errors import BadRequest, RangeNotSatisfiable
from tenku.web.ranges import parse_range
from tests.conftest import User


@pytest.mark.parametrize(
    ("header", "field", "max_", "desc"),
    [
        ("id ..; max=1000", "id", 1000, False),
        ("id ..; max=1000;", "id", 1000, False),
        ("id ..; max=200;", "id", 200, False),
        ("version ..; max=15, order=desc", "version", 15, True),
        ("version ..; order=desc,max=1", "version", 1, True),
        ("version ..; order=desc", "version", 200, True),
        ("name ..; max=1000", "name", 1000, False),
        ("name ..; max=0", "name", 0, False),
        ("..; max=20, , order=desc", None, 20, True),
        ("id ..; ;", "id", 200, False),
        ("domain ..; ;", "domain", 200, False),
        ("name ..; order=desc,max=10;", "name", 10, True),
        ("id ..; max=5000", "id", 1000, False),
        ("", None, 200, False),
    ],
)
def test_client_forms_parse(header: str, field: str | None, max_: int, desc: bool) -> None:
    spec = parse_range(header)
    assert (spec.field, spec.max, spec.desc) == (field, max_, desc)


def test_exclusive_start_and_end() -> None:
    spec = parse_range("version ]10..20; max=5")
    assert (spec.start, spec.exclusive, spec.end) == ("10", True, "20")
    spec = parse_range("name a..; max=5")
    assert (spec.start, spec.exclusive) == ("a", False)


@pytest.mark.parametrize("header", ["id ..; max=abc", "id ..; order=sideways", "id 5"])
def test_broken_ranges_are_bad_requests(header: str) -> None:
    with pytest.raises(BadRequest):
        parse_range(header)


def test_end_without_start_is_416() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("version ..12")


async def _apps(user: User, count: int) -> list[str]:
    names = [f"page-app-{i:03d}" for i in range(count)]
    for name in names:
        await user.create_app(name)
    return names


async def test_pages_walk_the_whole_list_without_overlap(alice: User) -> None:
    names = await _apps(alice, 7)
    seen: list[str] = []
    header = "name ..; max=3"
    statuses = []
    while True:
        r = await alice.get("/apps", headers={"Range": header})
        statuses.append(r.status_code)
        assert r.headers["accept-ranges"] == "id, name, updated_at"
        seen += [a["name"] for a in r.json()]
        if "next-range" not in r.headers:
            break
        header = r.headers["next-range"]
    assert seen == names
    assert statuses == [206, 206, 200]
    assert r.headers["content-range"] == "name page-app-006..page-app-006; max=3"


async def test_exact_final_page_is_200(alice: User) -> None:
    await _apps(alice, 4)
    r = await alice.get("/apps", headers={"Range": "name ..; max=4"})
    assert r.status_code == 200
    assert "next-range" not in r.headers


async def test_descending_and_exclusive_start(alice: User) -> None:
    names = await _apps(alice, 5)
    r = await alice.get("/apps", headers={"Range": "name ..; max=2, order=desc"})
    assert [a["name"] for a in r.json()] == names[::-1][:2]
    assert r.headers["next-range"] == f"name ]{names[3]}..; max=2, order=desc"
    r = await alice.get("/apps", headers={"Range": r.headers["next-range"]})
    assert [a["name"] for a in r.json()] == [names[2], names[1]]
    r = await alice.get("/apps", headers={"Range": f"name [{names[1]}..{names[3]}"})
    assert [a["name"] for a in r.json()] == names[1:4]


async def test_non_unique_sort_field_pages_without_losing_rows(alice: User) -> None:
    names = await _apps(alice, 5)
    seen: list[str] = []
    header = "updated_at ..; max=2"
    while True:
        r = await alice.get("/apps", headers={"Range": header})
        seen += [a["name"] for a in r.json()]
        if "next-range" not in r.headers:
            break
        header = r.headers["next-range"]
    assert sorted(seen) == names
    assert len(seen) == len(set(seen))


async def test_release_ranges_used_by_the_cli(alice: User) -> None:
    await alice.create_app("rel-range")
    for i in range(3):
        await alice.patch("/apps/rel-range/config-vars", json={f"K{i}": "v"})
    r = await alice.get(
        "/apps/rel-range/releases", headers={"Range": "version ..; order=desc,max=1"}
    )
    assert [x["version"] for x in r.json()] == [4]
    r = await alice.get(
        "/apps/rel-range/releases", headers={"Range": "version ..; max=15, order=desc"}
    )
    assert r.status_code == 200
    assert [x["version"] for x in r.json()] == [4, 3, 2, 1]


async def test_unknown_field_falls_back_to_id_and_bad_value_is_400(alice: User) -> None:
    await _apps(alice, 2)
    r = await alice.get("/apps", headers={"Range": "domain ..; ;"})
    assert r.status_code == 200
    assert r.headers["content-range"].startswith("id ")
    r = await alice.get("/apps", headers={"Range": "id ]not-a-uuid..; max=2"})
    assert r.status_code == 400
    assert r.json()["id"] == "bad_request"
