from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, reading, writing
from tenku.resources.app_feature import service
from tenku.resources.app_feature.schemas import FeatureOut, FeatureUpdate
from tenku.web.deps import TransactionRoute, body
from tenku.web.lists import catalog_list, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get(
    "/apps/{app_id_or_name}/features", response_model=list[FeatureOut], openapi_extra=ranged()
)
async def list_features(
    request: Request, on: Annotated[OnApp, reading("features:view")]
) -> Response:
    return catalog_list(request, FeatureOut, await service.app_features(on.db, on.app))


@router.get("/apps/{app_id_or_name}/features/{app_feature_id_or_name}", response_model=FeatureOut)
async def info(
    app_feature_id_or_name: str, on: Annotated[OnApp, reading("features:view")]
) -> Response:
    return model_response(await service.app_feature(on.db, on.app, app_feature_id_or_name))


@router.patch("/apps/{app_id_or_name}/features/{app_feature_id_or_name}", response_model=FeatureOut)
async def update(
    app_feature_id_or_name: str,
    on: Annotated[OnApp, writing("features:edit")],
    params: FeatureUpdate = body(FeatureUpdate),
) -> Response:
    feature = await service.update_app_feature(
        on.db, on.app, app_feature_id_or_name, params.enabled
    )
    return model_response(feature)
