from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.addon.registry import AddonCatalog, addon_service
from tenku.resources.addon_service.schemas import AddonServiceOut
from tenku.web.deps import TransactionRoute
from tenku.web.lists import catalog_list, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/addon-services", response_model=list[AddonServiceOut], openapi_extra=ranged())
async def list_services(request: Request, cat: AddonCatalog) -> Response:
    items = [AddonServiceOut.of(spec) for spec in cat.listed()]
    return catalog_list(request, AddonServiceOut, items)


@router.get("/addon-services/{addon_service_id_or_name}", response_model=AddonServiceOut)
async def info(addon_service_id_or_name: str, cat: AddonCatalog) -> Response:
    return model_response(AddonServiceOut.of(addon_service(cat, addon_service_id_or_name)))
