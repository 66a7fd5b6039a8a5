from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.service import get_app
from tenku.resources.app_feature import service
from tenku.resources.app_feature.schemas import FeatureOut, FeatureUpdate
from tenku.web.catalog_list import catalog_list
from tenku.web.deps import Principal, TransactionRoute, body, get_db, scoped
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/features")
async def list_features(
    request: Request,
    app_id_or_name: str,
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    return catalog_list(request, FeatureOut, await service.app_features(db, app))


@router.get("/apps/{app_id_or_name}/features/{app_feature_id_or_name}")
async def info(
    app_id_or_name: str,
    app_feature_id_or_name: str,
    caller: Principal = scoped("app:read"),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name)
    return model_response(await service.app_feature(db, app, app_feature_id_or_name))


@router.patch("/apps/{app_id_or_name}/features/{app_feature_id_or_name}")
async def update(
    app_id_or_name: str,
    app_feature_id_or_name: str,
    caller: Principal = scoped("app:write"),
    params: FeatureUpdate = body(FeatureUpdate),
    db: AsyncSession = Depends(get_db),
) -> Response:
    app = await get_app(db, caller, app_id_or_name, need="write")
    feature = await service.update_app_feature(db, app, app_feature_id_or_name, params.enabled)
    return model_response(feature)
