"""Routes FastAPI would only call through: TransactionRoute calls them straight."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from tenku.app import create_app
from tenku.config import Settings
from tenku.web.deps import TransactionRoute, direct_handler
from tenku.web.routing import flattened

calls: list[str] = []


async def counted(request: Request) -> str:
    calls.append(request.url.path)
    return "dep"


class Greeting:
    async def __call__(self, request: Request) -> str:
        return f"hello {request.path_params['name']}"


Counted = Annotated[str, Depends(counted)]
router = APIRouter(route_class=TransactionRoute)


@router.get("/direct/{name}")
async def direct(name: str, a: Counted, b: Counted, greet: str = Depends(Greeting())) -> Response:
    return PlainTextResponse(f"{name} {a} {b} {greet}")


@router.get("/query")
async def with_query(limit: int = 3) -> Response:
    return PlainTextResponse(str(limit * 2))


@router.get("/plain")
async def returns_a_dict() -> dict[str, int]:
    return {"n": 1}


def _app() -> FastAPI:
    app = FastAPI()
    app.include_router(router)
    return app


def _route(app: FastAPI, path: str) -> TransactionRoute:
    found = [r for r in flattened(app.routes) if getattr(r, "path", None) == path]
    assert isinstance(found[0], TransactionRoute)
    return found[0]


async def test_a_direct_route_gets_what_fastapi_would_give_it() -> None:
    app = _app()
    assert direct_handler(_route(app, "/direct/{name}").dependant) is not None
    calls.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/direct/bob")
    assert r.text == "bob dep dep hello bob"
    # One call, as FastAPI's dependency cache makes it, however many parameters name it.
    assert calls == ["/direct/bob"]


async def test_routes_that_need_fastapi_keep_it() -> None:
    app = _app()
    assert direct_handler(_route(app, "/query").dependant) is None
    assert direct_handler(_route(app, "/plain").dependant) is None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/query?limit=5")).text == "10"
        assert (await client.get("/query?limit=x")).status_code == 422
        assert (await client.get("/plain")).json() == {"n": 1}


def test_the_hot_routes_are_direct(settings: Settings) -> None:
    app = create_app(settings)
    for method, path in [
        ("GET", "/apps/{app_id_or_name}"),
        ("GET", "/apps"),
        ("PATCH", "/apps/{app_id_or_name}/config-vars"),
    ]:
        route = next(
            r
            for r in flattened(app.routes)
            if getattr(r, "path", None) == path and method in getattr(r, "methods", ())
        )
        assert isinstance(route, TransactionRoute)
        assert direct_handler(route.dependant) is not None, (method, path)
