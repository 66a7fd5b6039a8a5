"""The API describing itself: `GET /schema` (Heroku's JSON hyper-schema) and
`GET /openapi.json` (OpenAPI 3.1), both made from the application's own route table."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.schema.hyper import hyper_schema
from tenku.resources.schema.links import Link, links
from tenku.resources.schema.openapi import openapi
from tenku.storage.urls import base_url
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


def _links(request: Request) -> list[Link]:
    # The route table is fixed once the application is made: read it once.
    state = request.app.state
    found: list[Link] | None = getattr(state, "schema_links", None)
    if found is None:
        found = links(request.app.routes)
        state.schema_links = found
    return found


def _document(request: Request, kind: str, base: str) -> Any:
    cache: dict[tuple[str, str], Any] | None = getattr(request.app.state, "schema_docs", None)
    if cache is None:
        cache = request.app.state.schema_docs = {}
    key = (kind, base)
    if key not in cache:
        made = hyper_schema if kind == "schema" else openapi
        cache[key] = made(_links(request), base)
    return cache[key]


@router.get("/schema", summary="Info", openapi_extra={"responses": DOCUMENT})
async def schema(request: Request, ctx: Context) -> Response:
    """The API's JSON hyper-schema, in the layout of Heroku's own (no credentials needed)."""
    return raw_json(_document(request, "schema", base_url(ctx.settings, request)))


@router.get("/openapi.json", summary="OpenAPI", openapi_extra={"responses": DOCUMENT})
async def openapi_document(request: Request, ctx: Context) -> Response:
    """The API as an OpenAPI 3.1 document, for testing tools (no credentials needed)."""
    return raw_json(_document(request, "openapi", base_url(ctx.settings, request)))
