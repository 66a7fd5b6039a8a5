from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.addon.registry import AddonCatalog, addon_service
from tenku.resources.plan.schemas import PlanOut
from tenku.web.deps import TransactionRoute
from tenku.web.errors import NotFound
from tenku.web.lists import catalog_list, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get(
    "/addon-services/{addon_service_id_or_name}/plans",
    response_model=list[PlanOut],
    openapi_extra=ranged(),
)
async def list_plans(
    request: Request, addon_service_id_or_name: str, cat: AddonCatalog
) -> Response:
    spec = addon_service(cat, addon_service_id_or_name)
    return catalog_list(request, PlanOut, [PlanOut.of(p) for p in spec.plans])


@router.get(
    "/addon-services/{addon_service_id_or_name}/plans/{plan_id_or_name}", response_model=PlanOut
)
async def info(addon_service_id_or_name: str, plan_id_or_name: str, cat: AddonCatalog) -> Response:
    plan = addon_service(cat, addon_service_id_or_name).plan(plan_id_or_name)
    if plan is None:
        raise NotFound("plan", "Couldn't find that plan.")
    return model_response(PlanOut.of(plan))
