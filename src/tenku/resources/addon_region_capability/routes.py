from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.addons.catalog import ServiceSpec
from tenku.resources.addon.access import catalog
from tenku.resources.addon_region_capability.schemas import RegionCapabilityOut
from tenku.resources.region.catalog import REGIONS, find_region
from tenku.resources.region.schemas import RegionOut
from tenku.web.catalog_list import catalog_list
from tenku.web.deps import Principal, TransactionRoute, scoped
from tenku.web.errors import NotFound

router = APIRouter(route_class=TransactionRoute)
# Only beta and GA services have region capabilities.
LISTED_STATES = ("beta", "ga")


def _capabilities(
    services: list[ServiceSpec], regions: list[RegionOut]
) -> list[RegionCapabilityOut]:
    return [
        RegionCapabilityOut.of(spec, region)
        for spec in services
        if spec.state in LISTED_STATES
        for region in regions
        if spec.available_in(region.name)
    ]


@router.get("/addon-region-capabilities")
async def list_all(request: Request, caller: Principal = scoped("any")) -> Response:
    items = _capabilities(catalog(request).listed(), REGIONS)
    return catalog_list(request, RegionCapabilityOut, items, fields=("id",))


@router.get("/addon-services/{addon_service_id_or_name}/region-capabilities")
async def list_by_service(request: Request, addon_service_id_or_name: str) -> Response:
    spec = catalog(request).service(addon_service_id_or_name)
    if spec is None:
        raise NotFound("addon-service", "Couldn't find that add-on service.")
    items = _capabilities([spec], REGIONS)
    return catalog_list(request, RegionCapabilityOut, items, fields=("id",))


@router.get("/regions/{region_id_or_name}/addon-region-capabilities")
async def list_by_region(
    request: Request, region_id_or_name: str, caller: Principal = scoped("any")
) -> Response:
    region = find_region(region_id_or_name)
    if region is None:
        raise NotFound("region")
    items = _capabilities(catalog(request).listed(), [region])
    return catalog_list(request, RegionCapabilityOut, items, fields=("id",))
