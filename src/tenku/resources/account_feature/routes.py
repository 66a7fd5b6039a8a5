from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.account_feature import service
from tenku.resources.app_feature.schemas import FeatureOut, FeatureUpdate
from tenku.web.deps import AccountReader, AccountWriter, Db, TransactionRoute, body
from tenku.web.lists import catalog_list, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/account/features", response_model=list[FeatureOut], openapi_extra=ranged())
async def list_features(request: Request, caller: AccountReader, db: Db) -> Response:
    return catalog_list(request, FeatureOut, await service.account_features(db, caller.account))


@router.get("/account/features/{account_feature_id_or_name}", response_model=FeatureOut)
async def info(account_feature_id_or_name: str, caller: AccountReader, db: Db) -> Response:
    feature = await service.account_feature(db, caller.account, account_feature_id_or_name)
    return model_response(feature)


@router.patch("/account/features/{account_feature_id_or_name}", response_model=FeatureOut)
async def update(
    account_feature_id_or_name: str,
    caller: AccountWriter,
    db: Db,
    params: FeatureUpdate = body(FeatureUpdate),
) -> Response:
    feature = await service.update_account_feature(
        db, caller.account, account_feature_id_or_name, params.enabled
    )
    return model_response(feature)
