from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.logs import stream
from tenku.logs.store import Filters
from tenku.resources.app.access import OnApp, permitted, reading
from tenku.resources.log_session.schemas import LogSessionCreate, LogSessionOut
from tenku.web.deps import Context, TransactionRoute, body
from tenku.web.docs import answers, header, merged
from tenku.web.errors import NotFound
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)
# The stream the sessions point at authenticates by its token, not by the caller's.
streams = APIRouter()


@router.post("/apps/{app_id_or_name}/log-sessions", response_model=LogSessionOut, status_code=201)
async def create(
    on: Annotated[OnApp, reading("logs:view")],
    ctx: Context,
    params: LogSessionCreate = body(LogSessionCreate),
) -> Response:
    session = stream.Session(
        app_id=on.app.id,
        reader=on.caller.account.id,
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


@streams.get(
    "/streams/logs/{token}",
    openapi_extra=merged(
        answers(
            "The app's log lines, then (with `tail`) new ones as they come: plain text, or "
            "Server-Sent Events for clients that accept `text/event-stream`.",
            "text/plain",
            "text/event-stream",
        ),
        header("Last-Event-ID", "Resume the event stream after this line."),
    ),
)
async def log_stream(request: Request, token: str, ctx: Context) -> Response:
    """A log session's `logplex_url`: the app's logs (the token is the credential)."""
    session = stream.redeem(ctx.signer, token)
    if session is not None:
        async with ctx.db.session(write=False) as db:
            # Also gone when the app is: access needs the app.
            if not await permitted(db, session.app_id, session.reader, "logs:view"):
                session = None
    if session is None:
        raise NotFound("log_session", "Couldn't find that log session.")
    return stream.response(request, ctx.db, session)


router.include_router(streams)
