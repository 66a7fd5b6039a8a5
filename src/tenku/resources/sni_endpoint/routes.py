from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app.access import OnApp, on_app
from tenku.resources.common import Out
from tenku.web.deps import TransactionRoute
from tenku.web.ranges import paginate_memory
from tenku.web.render import list_response

router = APIRouter(route_class=TransactionRoute)


@router.get("/apps/{app_id_or_name}/sni-endpoints")
async def list_sni_endpoints(
    request: Request,
    on: OnApp = on_app("app:read"),
) -> Response:
    # `heroku domains:add` lists these before adding a domain. Certificates
    # cannot be uploaded to Tenku yet, so no app has an SNI endpoint.
    page = paginate_memory(request, [], ["id", "name"])
    return list_response(Out, page.rows, page.status, page.headers)
