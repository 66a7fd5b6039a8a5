"""Range headers as real clients send them, and keyset paging through HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update
from starlette.requests import Request

from tenku.db.models import App
from tenku.db.reads import Reads, SessionReads
from tenku.resources.app import service
from tenku.resources.app.render import APP_WIRE_ROWS
from tenku.web.errors import BadRequest, RangeNotSatisfiable
from tenku.web.ranges import Page, paginate, parse_range
from tests.conftest import ApiClient, User


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


async def _both_pages(reads: Reads, account_id: uuid.UUID, header: str) -> tuple[Page, Page]:
    """The page of a Range from the app list's `ListQuery` and from the same statement
    built for the request."""
    request = Request({"type": "http", "headers": [(b"range", header.encode())]})
    order = service.SORT
    prepared = await paginate(
        reads,
        request,
        service.VISIBLE_APP_PAGES,
        order.fields,
        order.id_column,
        order.default,
        {service.ACCOUNT: account_id},
    )
    built = await paginate(
        reads,
        request,
        service.visible_apps(account_id, APP_WIRE_ROWS),
        order.fields,
        order.id_column,
        order.default,
    )
    return prepared, built


async def test_a_list_querys_pages_are_its_statements_pages(api: ApiClient, alice: User) -> None:
    """Every shape of Range (each field, either order, inclusive and exclusive starts,
    with and without the id that breaks a tie, an end) gives the page the statement built
    for the request gives, followed along Next-Range, through either kind of reads."""
    names = await _apps(alice, 7)
    account_id = uuid.UUID((await alice.get("/account")).json()["id"])
    # Three apps share an updated_at: pages of updated_at break the tie by id.
    same = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with api.database.session(write=True) as db:
        await db.execute(update(App).where(App.name.in_(names[2:5])).values(updated_at=same))
        await db.commit()
    stamp = "2030-01-02T03:04:05Z"
    headers = [
        "id ..; max=3",
        "id ..; max=2, order=desc",
        f"name ]{names[1]}..; max=2",
        f"name [{names[1]}..{names[4]}",
        f"name {names[5]}..{names[2]}; order=desc",
        "updated_at ..; max=2",
        "updated_at ..; max=2, order=desc",
        f"updated_at ]{stamp}..; max=2",
        f"updated_at [{stamp}..; max=2",
        f"updated_at [{stamp}..{stamp}",
        "..; max=4",
    ]
    own = api.database.request_reads()
    async with api.database.session(write=False) as db:
        sources: list[Any] = [SessionReads(db)] + ([own] if own else [])
        try:
            for reads in sources:
                walked = 0
                for header in headers:
                    following: str | None = header
                    while following is not None:
                        prepared, built = await _both_pages(reads, account_id, following)
                        assert [list(row) for row in prepared.rows] == [
                            list(row) for row in built.rows
                        ], following
                        assert (prepared.status, prepared.headers, prepared.width) == (
                            built.status,
                            built.headers,
                            built.width,
                        )
                        walked += len(prepared.rows)
                        following = prepared.headers.get("Next-Range")
                # Not a walk of empty pages.
                assert walked > 7 * 3
        finally:
            if own is not None:
                await own.aclose()
