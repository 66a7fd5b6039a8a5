"""Authentication comes before anything else a request asks for."""

from __future__ import annotations

from tests.conftest import ApiClient
from tests.contract.test_routes import ROUTES


async def test_every_route_refuses_anonymous_callers_first(api: ApiClient) -> None:
    refused = []
    for method, shape in sorted(ROUTES):
        path = shape.replace("{}", "x")
        r = await api.request(
            method, path, content=b"{broken", headers={"Content-Type": "application/json"}
        )
        refused.append((method, path, r.status_code))
    assert [x for x in refused if x[2] != 401] == []
    assert len(refused) >= 60
