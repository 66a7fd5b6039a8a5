"""Finding a request's route without trying every route in turn.

Starlette's router tries its routes in order until one matches the path and method.
With every resource of the reference registered, a request for a route near the end of
that order tried a few hundred patterns first, through FastAPI's nested-router
bookkeeping, which cost more than authenticating the caller. `RouteIndex` goes first
in the application's routes: it files each route under the literal segments of its
path, so only routes whose literal segments fit the request's path are tried, still in
routing order. When none of them matches fully (an unknown path, a method the path does
not take, a trailing slash to redirect), it answers "no match" and the router's own
scan decides, exactly as before; what the index picks is always what that scan would
have picked first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

# A path parameter: `{name}` or `{name:convertor}`.
_PARAM = re.compile(r"\{\w+(?::(\w+))?\}")


@dataclass
class _Node:
    literal: dict[str, _Node] = field(default_factory=dict)
    # Any one segment: a parameter (or a segment mixing text and parameters).
    param: _Node | None = None
    # (routing order, route) of the routes whose path ends here.
    routes: list[tuple[int, BaseRoute]] = field(default_factory=list)


def flattened(routes: Iterable[Any]) -> Iterator[BaseRoute]:
    """The routes as the router tries them: included routers unwrapped in place."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from flattened(nested.routes)
        else:
            yield route


def _segments(path: str) -> list[str | None] | None:
    """A route path's segments, None for a parameter; None for a path that can match
    across segments (a `path` convertor)."""
    segments: list[str | None] = []
    for part in path.split("/")[1:]:
        params = _PARAM.findall(part)
        if "path" in params:
            return None
        # A segment whose text is all literal is filed under it; any parameter makes it
        # a wildcard (a superset of what its pattern matches, which is safe).
        segments.append(None if _PARAM.search(part) else part)
    return segments


class RouteIndex(BaseRoute):
    """The first route, in routing order, that fully matches a request (see module doc)."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._root = _Node()
        # Routes filed nowhere: tried for every path, in their place in the order.
        self._anywhere: list[tuple[int, BaseRoute]] = []
        for order, route in enumerate(routes):
            path = getattr(route, "path", None)
            segments = _segments(path) if isinstance(path, str) and path.startswith("/") else None
            if segments is None:
                self._anywhere.append((order, route))
                continue
            node = self._root
            for segment in segments:
                if segment is None:
                    node.param = node.param or _Node()
                    node = node.param
                else:
                    node = node.literal.setdefault(segment, _Node())
            node.routes.append((order, route))

    def candidates(self, path: str) -> list[BaseRoute]:
        parts = path.split("/")[1:]
        found: list[tuple[int, BaseRoute]] = list(self._anywhere)
        stack: list[tuple[_Node, int]] = [(self._root, 0)]
        while stack:
            node, depth = stack.pop()
            if depth == len(parts):
                found.extend(node.routes)
                continue
            child = node.literal.get(parts[depth])
            if child is not None:
                stack.append((child, depth + 1))
            if node.param is not None:
                stack.append((node.param, depth + 1))
        if len(found) > 1:
            found.sort(key=lambda item: item[0])
        return [route for _, route in found]

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match == Match.FULL:
                child_scope["tenku.route"] = route
                return match, child_scope
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: BaseRoute = scope["tenku.route"]
        await route.handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        # The routes themselves answer for their names, further down the router's list.
        raise NoMatchFound(name, path_params)


def index_routes(routes: list[BaseRoute]) -> None:
    """Put a RouteIndex of `routes` (an application's route list) at its head."""
    routes.insert(0, RouteIndex(list(flattened(routes))))
