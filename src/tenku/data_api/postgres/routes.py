"""Heroku Postgres' Data API: the calls `heroku pg:*` makes to the data host."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.data_api.access import Database, database, undo_for
from tenku.data_api.postgres import service
from tenku.data_api.postgres.schemas import (
    CredentialCreate,
    CredentialOut,
    DatabaseOut,
    ResetBody,
    Rotation,
    SettingsOut,
    WaitStatus,
)
from tenku.data_api.schemas import Message
from tenku.web.deps import TransactionRoute, app_context, body, json_object
from tenku.web.render import list_response, model_response

# The Data API is not the Platform API: /schema and /openapi.json leave it out.
router = APIRouter(route_class=TransactionRoute, include_in_schema=False)

KIND = ("postgresql",)
Viewed = Annotated[Database, database(KIND, "view")]
Revealed = Annotated[Database, database(KIND, "config")]
Changed = Annotated[Database, database(KIND, "edit", for_update=True)]


@router.get("/client/v11/databases/{database}", response_model=DatabaseOut)
async def database_info(d: Viewed) -> Response:
    return model_response(await service.info(d))


@router.get("/client/v11/databases/{database}/wait_status", response_model=WaitStatus)
async def database_wait_status(d: Viewed) -> Response:
    return model_response(service.wait_status(d))


@router.post("/client/v11/databases/{database}/connection_reset", response_model=Message)
async def connection_reset(d: Changed) -> Response:
    """`pg:killall`: every connection to the database ends."""
    await service.kill_all(d)
    return model_response(Message(message="Connections terminated."))


@router.put("/client/v11/databases/{database}/reset", response_model=Message)
async def reset_database(d: Changed, params: ResetBody = body(ResetBody)) -> Response:
    await service.reset(d, params.extensions or [])
    return model_response(Message(message=f"{d.addon.name} has been reset."))


@router.get("/postgres/v0/databases/{database}/credentials", response_model=list[CredentialOut])
async def list_credentials(request: Request, d: Revealed) -> Response:
    found = await service.credentials(d, app_context(request).sealer)
    return list_response(CredentialOut, found)


@router.get("/postgres/v0/databases/{database}/credentials/{name}", response_model=CredentialOut)
async def credential_info(request: Request, d: Revealed, name: str) -> Response:
    return model_response(await service.credential(d, app_context(request).sealer, name))


@router.post("/postgres/v0/databases/{database}/credentials", response_model=CredentialOut)
async def create_credential(
    request: Request, d: Changed, params: CredentialCreate = body(CredentialCreate)
) -> Response:
    sealer = app_context(request).sealer
    await service.create_credential(d, sealer, params.name, undo_for(request))
    return model_response(await service.credential(d, sealer, params.name), status=201)


@router.delete("/postgres/v0/databases/{database}/credentials/{name}", response_model=Message)
async def destroy_credential(d: Changed, name: str) -> Response:
    await service.destroy_credential(d, name)
    return model_response(Message(message=f"The credential {name} has been destroyed."))


@router.post(
    "/postgres/v0/databases/{database}/credentials/{name}/credentials_rotation",
    response_model=Message,
)
async def rotate_credential(
    request: Request, d: Changed, name: str, params: Rotation = body(Rotation)
) -> Response:
    sealer = app_context(request).sealer
    await service.rotate(d, sealer, name, bool(params.forced), undo_for(request))
    return model_response(Message(message=f"The credential {name} has been rotated."))


@router.post("/postgres/v0/databases/{database}/credentials_rotation", response_model=Message)
async def rotate_credentials(
    request: Request, d: Changed, params: Rotation = body(Rotation)
) -> Response:
    sealer = app_context(request).sealer
    await service.rotate(d, sealer, None, bool(params.forced), undo_for(request))
    return model_response(Message(message="Every credential has been rotated."))


@router.post("/postgres/v0/databases/{database}/repair-default", response_model=Message)
async def repair_default(d: Changed) -> Response:
    await service.repair_default(d)
    return model_response(Message(message="The default credential has been repaired."))


@router.get("/postgres/v0/databases/{database}/config", response_model=SettingsOut)
async def database_settings(d: Viewed) -> Response:
    return model_response(await service.settings(d))


@router.patch("/postgres/v0/databases/{database}/config", response_model=SettingsOut)
async def change_database_settings(request: Request, d: Changed) -> Response:
    """The body names settings: `{"track_functions": "pl"}`."""
    return model_response(await service.change_settings(d, await json_object(request)))
