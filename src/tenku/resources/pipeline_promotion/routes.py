from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from tenku.resources.pipeline_promotion import service
from tenku.resources.pipeline_promotion.schemas import PromotionCreate, PromotionOut
from tenku.web.deps import AppsReader, AppsWriter, Db, TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.post("/pipeline-promotions", response_model=PromotionOut, status_code=201)
async def create(
    caller: AppsWriter, db: Db, params: PromotionCreate = body(PromotionCreate)
) -> Response:
    # The runtime, nudged when the transaction commits, releases the slug on the targets.
    promotion = await service.create_promotion(
        db,
        caller,
        params.pipeline.id,
        params.source.app.id,
        [target.app.id for target in params.targets],
    )
    return model_response(PromotionOut.of(promotion), status=201)


@router.get("/pipeline-promotions/{pipeline_promotion_id}", response_model=PromotionOut)
async def info(pipeline_promotion_id: str, caller: AppsReader, db: Db) -> Response:
    promotion = await service.get_promotion(db, caller.account.id, pipeline_promotion_id)
    return model_response(PromotionOut.of(promotion))
