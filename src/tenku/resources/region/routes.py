from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.region.catalog import REGIONS, find_region
from tenku.resources.region.schemas import RegionOut
from tenku.web.deps import AnyCaller, TransactionRoute
from tenku.web.errors import NotFound
from tenku.web.lists import catalog_list, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/regions", response_model=list[RegionOut], openapi_extra=ranged())
async def list_regions(request: Request, caller: AnyCaller) -> Response:
    return catalog_list(request, RegionOut, REGIONS)


@router.get("/regions/{region_id_or_name}", response_model=RegionOut)
async def info(region_id_or_name: str, caller: AnyCaller) -> Response:
    region = find_region(region_id_or_name)
    if region is None:
        raise NotFound("region")
    return model_response(region)
