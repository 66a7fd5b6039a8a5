"""The route index picks, for any request, the route the router's own scan picks first."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import BaseRoute, Match

from tenku.app import create_app
from tenku.config import Settings
from tenku.web.routing import RouteIndex, flattened

SAMPLES = ("some-app", "01234567-89ab-cdef-0123-456789abcdef", "apps", "web.1", "~")


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def _scan(routes: list[BaseRoute], scope: dict[str, Any]) -> BaseRoute | None:
    """What Starlette's router does: the first route that matches fully."""
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
    return None


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[RouteIndex, list[BaseRoute]]:
    tmp = tmp_path_factory.mktemp("routing")
    api = create_app(Settings(data_dir=tmp, database_url=f"sqlite+aiosqlite:///{tmp}/t.db"))
    index = api.router.routes[0]
    assert isinstance(index, RouteIndex)
    return index, list(flattened(api.router.routes[1:]))


def _paths(template: str) -> list[str]:
    """Concrete paths for a route's template, each parameter filled with each sample."""
    return [re.sub(r"\{[^}]+\}", sample, template) for sample in SAMPLES]


def test_every_route_is_found_as_the_scan_finds_it(
    table: tuple[RouteIndex, list[BaseRoute]],
) -> None:
    index, routes = table
    checked = 0
    for route in routes:
        template = getattr(route, "path", None)
        if not isinstance(template, str):
            continue
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            for path in _paths(template):
                scope = _scope(method, path)
                expected = _scan(routes, scope)
                match, child = index.matches(scope)
                if expected is None:
                    assert match == Match.NONE, (method, path)
                else:
                    assert match == Match.FULL, (method, path)
                    assert child["tenku.route"] is expected, (method, path)
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/no-such-thing"),
        ("GET", "/apps/some-app/"),
        ("GET", "/apps//config-vars"),
        ("PUT", "/apps/some-app"),
        ("GET", "/"),
        ("GET", "/apps/some-app/config-vars/extra/segments"),
    ],
)
def test_what_the_index_does_not_match_is_left_to_the_scan(
    table: tuple[RouteIndex, list[BaseRoute]], method: str, path: str
) -> None:
    index, routes = table
    scope = _scope(method, path)
    assert _scan(routes, scope) is None
    assert index.matches(scope)[0] == Match.NONE


async def test_unknown_paths_and_methods_keep_their_answers(api: Any, alice: Any) -> None:
    assert (await alice.get("/no-such-thing")).status_code == 404
    r = await alice.put("/apps/some-app", json={})
    assert r.status_code == 405
    assert r.json()["id"] == "method_not_allowed"


def test_index_is_built_from_the_settings_app(tmp_path: Path) -> None:
    api = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path}/t"))
    assert sum(isinstance(r, RouteIndex) for r in api.router.routes) == 1
