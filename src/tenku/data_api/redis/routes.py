"""Heroku Data for Redis' Data API: the calls `heroku redis:*` makes to the data host."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.data_api.access import Database, database, undo_for
from tenku.data_api.redis import service
from tenku.data_api.redis.schemas import ConfigOut, ConfigUpdate, RedisOut, WaitOut
from tenku.data_api.schemas import Message
from tenku.web.deps import TransactionRoute, body
from tenku.web.render import model_response

# The Data API is not the Platform API: /schema and /openapi.json leave it out.
router = APIRouter(route_class=TransactionRoute, include_in_schema=False)

KIND = ("redis",)
Viewed = Annotated[Database, database(KIND, "view")]
Changed = Annotated[Database, database(KIND, "edit", for_update=True)]


@router.get("/redis/v0/databases/{database}", response_model=RedisOut)
async def redis_info(d: Viewed) -> Response:
    return model_response(await service.info(d))


@router.get("/redis/v0/databases/{database}/wait", response_model=WaitOut)
async def redis_wait(d: Viewed) -> Response:
    return model_response(service.wait(d))


@router.patch("/redis/v0/databases/{database}/config", response_model=ConfigOut)
async def redis_config(d: Changed, params: ConfigUpdate = body(ConfigUpdate)) -> Response:
    return model_response(await service.update(d, params))


@router.post("/redis/v0/databases/{database}/credentials_rotation", response_model=Message)
async def redis_credentials_rotation(request: Request, d: Changed) -> Response:
    await service.rotate(d, undo_for(request))
    return model_response(Message(message=f"The credentials of {d.addon.name} have been reset."))
