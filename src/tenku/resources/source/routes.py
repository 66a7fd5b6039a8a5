"""Sources: a pair of URLs on Tenku itself to upload an app's code to and read it back.

Nothing is recorded: the signed URLs are the whole resource. Clients PUT the
tarball with no Authorization, then name the GET URL as a build's source.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, on_app
from tenku.resources.source.schemas import SourceBlobOut, SourceOut
from tenku.storage.urls import blob_url
from tenku.web.deps import Principal, TransactionRoute, app_context, scoped
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


def _source(request: Request) -> Response:
    ctx = app_context(request)
    key = f"sources/{uuid.uuid4()}.tgz"
    blob = SourceBlobOut(
        get_url=blob_url(ctx.settings, ctx.signer, key, "GET", request=request),
        put_url=blob_url(ctx.settings, ctx.signer, key, "PUT", request=request),
    )
    return model_response(SourceOut(source_blob=blob), status=201)


@router.post("/apps/{app_id_or_name}/sources")
async def create(request: Request, on: OnApp = on_app("app:write", need="write")) -> Response:
    return _source(request)


@router.post("/sources")
async def create_unscoped(request: Request, caller: Principal = scoped("app:write")) -> Response:
    return _source(request)
