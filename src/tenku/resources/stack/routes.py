from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.stack.catalog import STACKS, find_stack
from tenku.resources.stack.schemas import StackOut
from tenku.web.deps import AnyCaller, TransactionRoute
from tenku.web.errors import NotFound
from tenku.web.lists import catalog_list, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/stacks", response_model=list[StackOut], openapi_extra=ranged())
async def list_stacks(request: Request, caller: AnyCaller) -> Response:
    return catalog_list(request, StackOut, STACKS)


@router.get("/stacks/{stack_name_or_id}", response_model=StackOut)
async def info(stack_name_or_id: str, caller: AnyCaller) -> Response:
    stack = find_stack(stack_name_or_id)
    if stack is None:
        raise NotFound("stack")
    return model_response(stack)
