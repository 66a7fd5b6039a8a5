"""Every route that names an app in its path declares, through its access dependency, the
action it performs: a new route cannot forget to check the caller's rights on the app."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from tenku.app import create_app
from tenku.config import Settings
from tenku.resources.app.access import Declared, ViewApp, declared
from tenku.resources.app.permissions import ACTIONS
from tenku.resources.schema.links import api_routes

# A path parameter that names an app: `{app_id_or_name}`, git's `{app_name}` (not one
# that names a resource of its own, such as `{app_transfer_id_or_name}` or `{app_setup_id}`).
APP_PARAM = re.compile(r"\{app(_id_or_name|_id|_name)?\}")


def _routes() -> list[APIRoute]:
    data_dir = Path(tempfile.mkdtemp(prefix="tenku-route-actions-"))
    return api_routes(
        create_app(Settings(data_dir=data_dir, database_url="sqlite+aiosqlite://")).routes
    )


ROUTES = _routes()
APP_SCOPED = [r for r in ROUTES if APP_PARAM.search(r.path)]


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _declarations(route: APIRoute) -> list[Declared]:
    return [d for d in map(declared, _calls(route.dependant)) if d is not None]


def _name(route: APIRoute) -> str:
    return f"{','.join(sorted(route.methods))} {route.path}"


def test_the_app_scoped_routes_are_found() -> None:
    # The pattern must keep matching the routes it guards.
    paths = {r.path for r in APP_SCOPED}
    assert "/apps/{app_id_or_name}" in paths
    assert "/apps/{app_id_or_name}/config-vars" in paths
    assert "/{app_name}.git/git-receive-pack" in paths
    assert len(APP_SCOPED) > 50


@pytest.mark.parametrize("route", APP_SCOPED, ids=_name)
def test_an_app_scoped_route_declares_its_action(route: APIRoute) -> None:
    found = _declarations(route)
    assert len(found) == 1, f"{_name(route)} resolves its app {len(found)} times, not once"
    (decl,) = found
    assert decl.action in ACTIONS
    assert set(decl.then) <= ACTIONS.keys()
    if route.methods <= {"GET", "HEAD"}:
        # A read changes nothing: a token that may only read gets as far as the check.
        assert not decl.scope.endswith(":write"), _name(route)


def test_no_other_route_resolves_an_app_from_its_path() -> None:
    # The dependency reads `app_id_or_name` from the path: a route without one cannot use it.
    stray = [_name(r) for r in ROUTES if r not in APP_SCOPED and _declarations(r)]
    assert stray == []


def test_a_route_that_checks_nothing_is_caught() -> None:
    router = APIRouter()

    @router.get("/apps/{app_id_or_name}/checked")
    async def checked(on: ViewApp) -> None: ...

    @router.get("/apps/{app_id_or_name}/unchecked")
    async def unchecked(app_id_or_name: str) -> None: ...

    by_path = {r.path: r for r in api_routes(router.routes)}
    assert [d.action for d in _declarations(by_path["/apps/{app_id_or_name}/checked"])] == [
        "app:view"
    ]
    assert _declarations(by_path["/apps/{app_id_or_name}/unchecked"]) == []
