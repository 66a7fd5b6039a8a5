from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.addons.catalog import ServiceSpec
from tenku.resources.addon.access import catalog
from tenku.resources.plan.schemas import PlanOut
from tenku.web.catalog_list import catalog_list
from tenku.web.deps import TransactionRoute
from tenku.web.errors import NotFound
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


def _service(request: Request, ident: str) -> ServiceSpec:
    spec = catalog(request).service(ident)
    if spec is None:
        raise NotFound("addon-service", "Couldn't find that add-on service.")
    return spec


@router.get("/addon-services/{addon_service_id_or_name}/plans")
async def list_plans(request: Request, addon_service_id_or_name: str) -> Response:
    spec = _service(request, addon_service_id_or_name)
    return catalog_list(request, PlanOut, [PlanOut.of(p) for p in spec.plans])


@router.get("/addon-services/{addon_service_id_or_name}/plans/{plan_id_or_name}")
async def info(
    request: Request,
    addon_service_id_or_name: str,
    plan_id_or_name: str,
) -> Response:
    plan = _service(request, addon_service_id_or_name).plan(plan_id_or_name)
    if plan is None:
        raise NotFound("plan", "Couldn't find that plan.")
    return model_response(PlanOut.of(plan))
