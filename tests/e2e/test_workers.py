"""Several API workers over one database answer exactly as one does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import V3, LiveServer, launch, throwaway_pg_database

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "postgresql"])
def two_workers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(throwaway_pg_database())
        # A small budget refills slowly (one request per 36 s), so what the test reads
        # from RateLimit-Remaining does not depend on how fast the machine is.
        budget = {"TENKU_RATE_LIMIT_PER_HOUR": "100"}
        yield stack.enter_context(launch(request.param, tmp_path, url, 2, budget))


async def test_concurrent_changes_across_workers(two_workers: LiveServer) -> None:
    key = two_workers.create_user("workers@example.com").key
    headers = {"Accept": V3, "Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=24, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=two_workers.url, headers=headers, limits=limits, timeout=60, trust_env=False
    ) as client:
        assert (await client.post("/apps", json={"name": "busy-app"})).status_code == 201
        changes = await asyncio.gather(
            *(client.patch("/apps/busy-app/config-vars", json={f"K{i}": str(i)}) for i in range(30))
        )
        assert [r.status_code for r in changes] == [200] * 30
        releases = (await client.get("/apps/busy-app/releases")).json()
        assert [r["version"] for r in releases] == list(range(1, 32))
        assert sum(r["current"] for r in releases) == 1
        config = (await client.get("/apps/busy-app/config-vars")).json()
        assert config == {f"K{i}": str(i) for i in range(30)}
        # The budget is the account's, not a worker's: it goes down by one per request,
        # whichever worker answers.
        seen = [
            int(r.headers["ratelimit-remaining"])
            for r in [await client.get("/account") for _ in range(6)]
        ]
        assert seen == sorted(seen, reverse=True)
        assert seen[0] - seen[-1] == 5
