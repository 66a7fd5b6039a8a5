from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, on_app
from tenku.resources.app_feature import service
from tenku.resources.app_feature.schemas import FeatureOut, FeatureUpdate
from tenku.web.catalog_list import catalog_list
from tenku.web.deps import TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/features")
async def list_features(
    request: Request,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    return catalog_list(request, FeatureOut, await service.app_features(db, app))


@router.get("/apps/{app_id_or_name}/features/{app_feature_id_or_name}")
async def info(
    app_feature_id_or_name: str,
    on: OnApp = on_app("app:read"),
) -> Response:
    app = on.app
    db = on.db
    return model_response(await service.app_feature(db, app, app_feature_id_or_name))


@router.patch("/apps/{app_id_or_name}/features/{app_feature_id_or_name}")
async def update(
    app_feature_id_or_name: str,
    on: OnApp = on_app("app:write", need="write"),
    params: FeatureUpdate = body(FeatureUpdate),
) -> Response:
    app = on.app
    db = on.db
    feature = await service.update_app_feature(db, app, app_feature_id_or_name, params.enabled)
    return model_response(feature)
