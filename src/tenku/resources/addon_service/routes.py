from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.addon.access import catalog
from tenku.resources.addon_service.schemas import AddonServiceOut
from tenku.web.catalog_list import catalog_list
from tenku.web.deps import TransactionRoute
from tenku.web.errors import NotFound
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/addon-services")
async def list_services(request: Request) -> Response:
    items = [AddonServiceOut.of(spec) for spec in catalog(request).listed()]
    return catalog_list(request, AddonServiceOut, items)


@router.get("/addon-services/{addon_service_id_or_name}")
async def info(request: Request, addon_service_id_or_name: str) -> Response:
    spec = catalog(request).service(addon_service_id_or_name)
    if spec is None:
        raise NotFound("addon-service", "Couldn't find that add-on service.")
    return model_response(AddonServiceOut.of(spec))
