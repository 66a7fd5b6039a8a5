"""The route table read as links: what /schema and /openapi.json both describe.

Everything here comes from the routes themselves: their paths and methods, the response
models and statuses in their decorators, the body models of their `body()` dependencies,
the `Credentials` dependencies that authenticate them and the `ranged()` lists. The
reference (`reference.json`) only adds titles, descriptions and stability.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, get_args, get_origin

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from tenku.web.deps import Credentials, JsonBody
from tenku.web.lists import RANGES

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@cache
def notes() -> dict[str, Any]:
    """What the Platform API reference says of each resource (see tests/contract/reference.py)."""
    text = resources.files(__package__).joinpath("reference.json").read_text()
    found: dict[str, Any] = json.loads(text)
    return found


def shape(path: str) -> str:
    """A path with its parameters unnamed: `/apps/{}/domains/{}`."""
    return _PARAM.sub("{}", path)


def plain(path: str) -> str:
    """A route's path as documents write it, without Starlette's convertors
    (`/teams/{team_name_or_id:team}` is `/teams/{team_name_or_id}`)."""
    return _PARAM.sub(r"{\1}", path)


@dataclass(frozen=True)
class Param:
    """A path parameter: which resource's attribute (or identity) it names."""

    name: str
    resource: str
    alternatives: tuple[str, ...]


@dataclass
class Link:
    resource: str
    method: str
    path: str
    params: list[Param]
    title: str
    description: str
    rel: str
    status: int
    # The response body's type (a model, a list of one, a mapping) or None for no JSON body.
    response: Any
    request: type[BaseModel] | None
    ranges: list[str]
    credentials: Credentials | None
    # Other answers the route declares (`responses=` in its decorator).
    responses: dict[int | str, dict[str, Any]]
    # The route's `openapi_extra`: what the OpenAPI document adds for this operation.
    extra: dict[str, Any]
    documented: bool
    # The reference's notes on the body's parameters, by name.
    body_notes: dict[str, Any]
    # The route function's name and module (whose docstring describes a resource of its own).
    name: str = ""
    module: str = ""


def api_routes(routes: Iterable[Any]) -> list[APIRoute]:
    """Every APIRoute of an application the schemas describe (not the Data API's), included
    routers unwrapped, in routing order."""
    found: list[APIRoute] = []
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            found += api_routes(nested.routes)
        elif isinstance(route, APIRoute) and route.include_in_schema:
            found.append(route)
    return found


def _dependencies(dependant: Dependant) -> Iterable[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _dependencies(sub)


def _humanize(name: str) -> str:
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _docstring(route: APIRoute) -> str:
    text = inspect.getdoc(route.endpoint) or ""
    return " ".join(text.split("\n\n")[0].split())


def _package_resource(route: APIRoute) -> str:
    # tenku.resources.<package>.<module>: the package is the resource.
    parts = route.endpoint.__module__.split(".")
    return parts[2].replace("_", "-") if len(parts) > 3 else parts[-1]


def is_list(annotation: Any) -> bool:
    return get_origin(annotation) is list


def item_of(annotation: Any) -> Any:
    return get_args(annotation)[0] if is_list(annotation) else annotation


def _rel(method: str, status: int, response: Any) -> str:
    if is_list(response):
        return "instances"
    if method == "GET":
        return "self"
    if method == "POST" and status == 201:
        return "create"
    if method in ("PATCH", "PUT"):
        return "update"
    if method == "DELETE" and status != 202:
        return "destroy"
    return "empty"


class _Reference:
    """The reference's links by method and path shape."""

    def __init__(self) -> None:
        self.by_shape: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
        for resource, note in notes().items():
            for link in note["links"]:
                key = (link["method"], shape(link["href"]))
                self.by_shape.setdefault(key, []).append((resource, link))

    def find(self, method: str, path: str, package: str) -> list[tuple[str, dict[str, Any]]]:
        """The reference's links for a route: of its own package's resource if there are
        any, and all of them (a release is created and rolled back by one route)."""
        found = self.by_shape.get((method, shape(path)), [])
        own = [(resource, link) for resource, link in found if resource == package]
        return own or found[:1]


def _params(path: str, resource: str, known: Sequence[str]) -> list[Param]:
    params = []
    for name in _PARAM.findall(path):
        owner = next(
            (r for r in known if name.startswith(r.replace("-", "_") + "_")),
            None,
        )
        if owner is None:
            params.append(Param(name, resource, (name,)))
        else:
            rest = name[len(owner) + 1 :]
            params.append(Param(name, owner, tuple(rest.split("_or_"))))
    return params


def links(routes: Iterable[Any]) -> list[Link]:
    reference = _Reference()
    table = api_routes(routes)
    packages = {_package_resource(r) for r in table}
    # Longest first, so that `addon_attachment_id` names an add-on attachment.
    known = sorted(set(notes()) | packages, key=len, reverse=True)
    found: list[Link] = []
    for route in table:
        package = _package_resource(route)
        deps = list(_dependencies(route.dependant))
        request = next((d.model for d in deps if isinstance(d, JsonBody)), None)
        credentials = next((d for d in deps if isinstance(d, Credentials)), None)
        status = route.status_code or 200
        response = route.response_model
        extra = dict(route.openapi_extra or {})
        ranges = list(extra.pop(RANGES, []))
        for method in sorted(route.methods or ()):
            matches: list[tuple[str, dict[str, Any] | None]] = [
                *reference.find(method, route.path, package)
            ]
            for resource, note in matches or [(package, None)]:
                title = note["title"] if note else route.summary or _humanize(route.name)
                description = note["description"] if note else _docstring(route)
                found.append(
                    Link(
                        resource=resource,
                        method=method,
                        path=plain(route.path),
                        params=_params(route.path, resource, known),
                        title=title,
                        description=description,
                        rel=_rel(method, status, response),
                        status=status,
                        response=response,
                        request=request,
                        ranges=ranges,
                        credentials=credentials,
                        responses=dict(route.responses),
                        extra=extra,
                        documented=note is not None,
                        body_notes=note.get("params", {}) if note else {},
                        name=route.name,
                        module=route.endpoint.__module__,
                    )
                )
    return found
