from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.rate_limit.schemas import RateLimitOut
from tenku.web.deps import Principal, TransactionRoute, scoped
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/account/rate-limits", response_model=RateLimitOut)
async def info(request: Request, caller: Principal = scoped("any", count=False)) -> Response:
    # Reading the budget does not spend it (as on Heroku).
    return model_response(RateLimitOut(remaining=request.state.ratelimit_remaining))
