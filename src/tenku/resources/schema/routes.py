"""The API describing itself: `GET /schema` (Heroku's JSON hyper-schema) and
`GET /openapi.json` (OpenAPI 3.1), both made from the application's own route table."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.schema.hyper import hyper_schema
from tenku.resources.schema.links import Link, links
from tenku.resources.schema.openapi import openapi
from tenku.storage.urls import base_url
from tenku.web.context import AppContext
from tenku.web.deps import Context
from tenku.web.render import raw_json

router = APIRouter()

# Not described by a model of their own: each is a whole JSON Schema document.
DOCUMENT = {
    "200": {
        "description": "The document.",
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


async def _document(
    request: Request, ctx: AppContext, kind: str, make: Callable[[list[Link], str], Any]
) -> Any:
    """The document, made once per application and public URL: the route table is fixed
    once the application is made."""
    state = request.app.state
    cache: dict[tuple[str, str], Any] | None = getattr(state, "schema_documents", None)
    if cache is None:
        cache = state.schema_documents = {}
    base = base_url(ctx.settings, request)
    key = (kind, base)
    if key not in cache:
        # A few hundred milliseconds of pure computation: kept off the event loop.
        cache[key] = await asyncio.to_thread(make, links(request.app.routes), base)
    return cache[key]


@router.get("/schema", summary="Info", openapi_extra={"responses": DOCUMENT})
async def schema(request: Request, ctx: Context) -> Response:
    """The API's JSON hyper-schema, in the layout of Heroku's own (no credentials needed)."""
    return raw_json(await _document(request, ctx, "schema", hyper_schema))


@router.get("/openapi.json", summary="OpenAPI", openapi_extra={"responses": DOCUMENT})
async def openapi_document(request: Request, ctx: Context) -> Response:
    """The API as an OpenAPI 3.1 document, for testing tools (no credentials needed)."""
    return raw_json(await _document(request, ctx, "openapi", openapi))
