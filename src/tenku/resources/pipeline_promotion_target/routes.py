from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import PipelinePromotionTarget
from tenku.resources.pipeline_promotion.service import get_promotion, targets_of
from tenku.resources.pipeline_promotion_target.schemas import PromotionTargetOut
from tenku.web.deps import AppsReader, Db, TransactionRoute
from tenku.web.lists import paged, ranged, sorting

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(PipelinePromotionTarget.id)


@router.get(
    "/pipeline-promotions/{pipeline_promotion_id}/promotion-targets",
    response_model=list[PromotionTargetOut],
    openapi_extra=ranged(SORT),
)
async def list_targets(
    request: Request, pipeline_promotion_id: str, caller: AppsReader, db: Db
) -> Response:
    # `pipelines:promote` polls this until no target is pending.
    promotion = await get_promotion(db, caller.account.id, pipeline_promotion_id)
    return await paged(
        request,
        db,
        targets_of(promotion.id),
        SORT,
        PromotionTargetOut,
        lambda rows: [PromotionTargetOut.of(t) for t in rows],
    )
