"""SNI endpoints: the certificates an app serves its custom domains with (none yet)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, reading
from tenku.resources.common import Out
from tenku.web.deps import TransactionRoute
from tenku.web.lists import catalog_list, ranged

router = APIRouter(route_class=TransactionRoute)


@router.get(
    "/apps/{app_id_or_name}/sni-endpoints", response_model=list[Out], openapi_extra=ranged()
)
async def list_sni_endpoints(
    request: Request, on: Annotated[OnApp, reading("domains:view")]
) -> Response:
    """The app's SNI endpoints: none, as certificates cannot be uploaded to Tenku yet."""
    # `heroku domains:add` lists these before adding a domain.
    return catalog_list(request, Out, [])
