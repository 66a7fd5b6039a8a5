from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.stack.catalog import STACKS, find_stack
from tenku.resources.stack.schemas import StackOut
from tenku.web.catalog_list import catalog_list
from tenku.web.deps import Principal, TransactionRoute, scoped
from tenku.web.errors import NotFound
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/stacks")
async def list_stacks(request: Request, caller: Principal = scoped("any")) -> Response:
    return catalog_list(request, StackOut, STACKS)


@router.get("/stacks/{stack_name_or_id}")
async def info(stack_name_or_id: str, caller: Principal = scoped("any")) -> Response:
    stack = find_stack(stack_name_or_id)
    if stack is None:
        raise NotFound("stack")
    return model_response(stack)
