from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from tenku.web.ranges import paginate_memory
from tenku.web.render import list_response


def catalog_list(
    request: Request,
    model: type[BaseModel],
    items: Sequence[BaseModel],
    fields: Sequence[str] = ("id", "name"),
) -> Response:
    page = paginate_memory(request, items, fields)
    return list_response(model, page.rows, page.status, page.headers)
