from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.addons.catalog import ServiceSpec
from tenku.resources.addon.registry import AddonCatalog, addon_service
from tenku.resources.addon_region_capability.schemas import RegionCapabilityOut
from tenku.resources.region.catalog import REGIONS, find_region
from tenku.resources.region.schemas import RegionOut
from tenku.web.deps import AnyCaller, TransactionRoute
from tenku.web.errors import NotFound
from tenku.web.lists import catalog_list, ranged

router = APIRouter(route_class=TransactionRoute)
# Capabilities have no name of their own to sort by.
FIELDS = ("id",)
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


@router.get(
    "/addon-region-capabilities",
    response_model=list[RegionCapabilityOut],
    openapi_extra=ranged(FIELDS),
)
async def list_all(request: Request, caller: AnyCaller, cat: AddonCatalog) -> Response:
    items = _capabilities(cat.listed(), REGIONS)
    return catalog_list(request, RegionCapabilityOut, items, fields=FIELDS)


@router.get(
    "/addon-services/{addon_service_id_or_name}/region-capabilities",
    response_model=list[RegionCapabilityOut],
    openapi_extra=ranged(FIELDS),
)
async def list_by_service(
    request: Request, addon_service_id_or_name: str, cat: AddonCatalog
) -> Response:
    items = _capabilities([addon_service(cat, addon_service_id_or_name)], REGIONS)
    return catalog_list(request, RegionCapabilityOut, items, fields=FIELDS)


@router.get(
    "/regions/{region_id_or_name}/addon-region-capabilities",
    response_model=list[RegionCapabilityOut],
    openapi_extra=ranged(FIELDS),
)
async def list_by_region(
    request: Request, region_id_or_name: str, caller: AnyCaller, cat: AddonCatalog
) -> Response:
    region = find_region(region_id_or_name)
    if region is None:
        raise NotFound("region")
    items = _capabilities(cat.listed(), [region])
    return catalog_list(request, RegionCapabilityOut, items, fields=FIELDS)
