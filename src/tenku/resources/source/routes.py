"""Sources: a pair of URLs on Tenku itself to upload an app's code to and read it back.

Nothing is recorded: the signed URLs are the whole resource. Clients PUT the
tarball with no Authorization, then name the GET URL as a build's source.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, writing
from tenku.resources.source.schemas import SourceBlobOut, SourceOut
from tenku.storage.urls import blob_url
from tenku.web.context import AppContext
from tenku.web.deps import AppsWriter, Context, TransactionRoute
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


def _source(request: Request, ctx: AppContext) -> Response:
    key = f"sources/{uuid.uuid4()}.tgz"
    blob = SourceBlobOut(
        get_url=blob_url(ctx.settings, ctx.signer, key, "GET", request=request),
        put_url=blob_url(ctx.settings, ctx.signer, key, "PUT", request=request),
    )
    return model_response(SourceOut(source_blob=blob), status=201)


@router.post("/apps/{app_id_or_name}/sources", response_model=SourceOut, status_code=201)
async def create(
    request: Request, on: Annotated[OnApp, writing("code:push")], ctx: Context
) -> Response:
    return _source(request, ctx)


@router.post("/sources", response_model=SourceOut, status_code=201, summary="Create")
async def create_unscoped(request: Request, caller: AppsWriter, ctx: Context) -> Response:
    """Create a pair of URLs to upload a source to and read it back, for no app in particular."""
    return _source(request, ctx)
