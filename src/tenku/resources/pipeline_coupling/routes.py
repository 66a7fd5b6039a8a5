from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import PipelineCoupling
from tenku.resources.app.access import ViewApp
from tenku.resources.pipeline.access import find_pipeline
from tenku.resources.pipeline_coupling import service
from tenku.resources.pipeline_coupling.schemas import CouplingCreate, CouplingOut, CouplingUpdate
from tenku.web.deps import AppsReader, AppsWriter, Db, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(PipelineCoupling.id)


def _render(rows: list[Any]) -> list[CouplingOut]:
    return [CouplingOut.of(coupling, pipeline) for coupling, pipeline in rows]


@router.get(
    "/pipelines/{pipeline_id}/pipeline-couplings",
    response_model=list[CouplingOut],
    openapi_extra=ranged(SORT),
)
async def list_for_pipeline(
    request: Request, pipeline_id: str, caller: AppsReader, db: Db
) -> Response:
    pipeline = await find_pipeline(db, caller.account.id, pipeline_id, by_name=False)
    stmt = service.couplings_of(caller.account.id, pipeline.id)
    return await paged(request, db, stmt, SORT, CouplingOut, _render)


@router.get("/pipeline-couplings", response_model=list[CouplingOut], openapi_extra=ranged(SORT))
async def list_couplings(request: Request, caller: AppsReader, db: Db) -> Response:
    stmt = service.couplings_of(caller.account.id)
    return await paged(request, db, stmt, SORT, CouplingOut, _render)


@router.post("/pipeline-couplings", response_model=CouplingOut, status_code=201)
async def create(
    caller: AppsWriter, db: Db, params: CouplingCreate = body(CouplingCreate)
) -> Response:
    coupling, pipeline = await service.create_coupling(
        db, caller, params.app, params.pipeline, params.stage
    )
    return model_response(CouplingOut.of(coupling, pipeline), status=201)


@router.get("/pipeline-couplings/{pipeline_coupling_id}", response_model=CouplingOut)
async def info(pipeline_coupling_id: str, caller: AppsReader, db: Db) -> Response:
    coupling, pipeline = await service.get_coupling(db, caller.account.id, pipeline_coupling_id)
    return model_response(CouplingOut.of(coupling, pipeline))


@router.patch("/pipeline-couplings/{pipeline_coupling_id}", response_model=CouplingOut)
async def update(
    pipeline_coupling_id: str,
    caller: AppsWriter,
    db: Db,
    params: CouplingUpdate = body(CouplingUpdate),
) -> Response:
    coupling, pipeline = await service.update_coupling(
        db, caller, pipeline_coupling_id, params.stage
    )
    return model_response(CouplingOut.of(coupling, pipeline))


@router.delete("/pipeline-couplings/{pipeline_coupling_id}", response_model=CouplingOut)
async def delete(pipeline_coupling_id: str, caller: AppsWriter, db: Db) -> Response:
    coupling, pipeline = await service.delete_coupling(db, caller, pipeline_coupling_id)
    return model_response(CouplingOut.of(coupling, pipeline))


@router.get("/apps/{app_id_or_name}/pipeline-couplings", response_model=CouplingOut)
async def app_coupling(on: ViewApp) -> Response:
    coupling, pipeline = await service.coupling_of_app(on.db, on.app)
    return model_response(CouplingOut.of(coupling, pipeline))
