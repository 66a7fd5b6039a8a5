from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter
from starlette.responses import Response

from tenku.logs import stream
from tenku.logs.store import Filters
from tenku.resources.app.access import ViewApp
from tenku.resources.log_session.schemas import LogSessionCreate, LogSessionOut
from tenku.web.deps import Context, TransactionRoute, body
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
# The stream the sessions point at; it authenticates by its token, not the caller's.
router.include_router(stream.router)


@router.post("/apps/{app_id_or_name}/log-sessions")
async def create(
    on: ViewApp, ctx: Context, params: LogSessionCreate = body(LogSessionCreate)
) -> Response:
    session = stream.Session(
        app_id=on.app.id,
        filters=Filters(dyno=params.dyno or None, source=params.source or None),
        lines=params.lines,
        tail=params.tail,
    )
    token = stream.issue(ctx.signer, session)
    # `srv` is kept as logplex has it: some clients tell log URLs apart by it.
    url = f"{ctx.settings.public_api_url}/streams/logs/{token}?srv={int(time.time())}"
    now = datetime.now(UTC)
    out = LogSessionOut(created_at=now, id=uuid.uuid4(), logplex_url=url, updated_at=now)
    return model_response(out, status=201)
