from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import Pipeline
from tenku.resources.pipeline import service
from tenku.resources.pipeline.schemas import PipelineCreate, PipelineOut, PipelineUpdate
from tenku.web.deps import AppsReader, AppsWriter, Db, TransactionRoute, body
from tenku.web.lists import paged, ranged, sorting
from tenku.web.ranges import field
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(Pipeline.id, ("name", field(Pipeline.name, unique=False)))


@router.post("/pipelines", response_model=PipelineOut, status_code=201)
async def create(
    caller: AppsWriter, db: Db, params: PipelineCreate = body(PipelineCreate)
) -> Response:
    pipeline = await service.create_pipeline(db, caller.account, params)
    return model_response(PipelineOut.of(pipeline), status=201)


@router.get("/pipelines", response_model=list[PipelineOut], openapi_extra=ranged(SORT))
async def list_pipelines(request: Request, caller: AppsReader, db: Db) -> Response:
    # The CLI finds a pipeline by name with `?eq[name]=`.
    name = request.query_params.get("eq[name]")
    return await paged(
        request,
        db,
        service.pipelines_of(caller.account.id, name),
        SORT,
        PipelineOut,
        lambda rows: [PipelineOut.of(p) for p in rows],
    )


@router.get("/pipelines/{pipeline_id_or_name}", response_model=PipelineOut)
async def info(pipeline_id_or_name: str, caller: AppsReader, db: Db) -> Response:
    pipeline = await service.get_pipeline(db, caller.account, pipeline_id_or_name)
    return model_response(PipelineOut.of(pipeline))


@router.patch("/pipelines/{pipeline_id}", response_model=PipelineOut)
async def update(
    pipeline_id: str,
    caller: AppsWriter,
    db: Db,
    params: PipelineUpdate = body(PipelineUpdate),
) -> Response:
    pipeline = await service.update_pipeline(db, caller.account, pipeline_id, params)
    return model_response(PipelineOut.of(pipeline))


@router.delete("/pipelines/{pipeline_id}", response_model=PipelineOut)
async def delete(pipeline_id: str, caller: AppsWriter, db: Db) -> Response:
    # The CLI sends the pipeline's name in the body; the id in the path is what counts.
    out = PipelineOut.of(await service.delete_pipeline(db, caller.account, pipeline_id))
    return model_response(out)
