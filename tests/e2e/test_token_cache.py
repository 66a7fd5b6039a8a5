"""Workers keep tokens' owners in memory, yet a revoked token stops working everywhere
within a second, whichever process revoked it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import V3, LiveServer, launch, throwaway_pg_database

pytestmark = pytest.mark.e2e

# What the API promises (README: PostgreSQL and several workers).
BOUND = 1.0


@pytest.fixture
def two_pg_workers(tmp_path: Path) -> Iterator[LiveServer]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(throwaway_pg_database())
        yield stack.enter_context(launch("postgresql", tmp_path, url, 2))


def statuses(server: LiveServer, token: str, count: int) -> list[int]:
    # A new connection per request, so both workers answer some of them.
    limits = httpx.Limits(max_keepalive_connections=0)
    headers = {"Accept": V3, "Authorization": f"Bearer {token}"}
    with httpx.Client(
        base_url=server.url, headers=headers, limits=limits, timeout=30, trust_env=False
    ) as client:
        return [client.get("/account").status_code for _ in range(count)]


def test_a_revoked_token_fails_on_every_worker_within_a_second(
    two_pg_workers: LiveServer,
) -> None:
    key = two_pg_workers.create_user("revoked@example.com").key
    headers = {"Accept": V3, "Authorization": f"Bearer {key}"}
    with httpx.Client(
        base_url=two_pg_workers.url, headers=headers, timeout=30, trust_env=False
    ) as client:
        made = [
            client.post("/oauth/authorizations", json={"description": f"t{i}"}).json()
            for i in range(2)
        ]
        by_api, by_cli = (m["access_token"]["token"] for m in made)
        # Both workers now keep both tokens.
        assert statuses(two_pg_workers, by_api, 20) == [200] * 20
        assert statuses(two_pg_workers, by_cli, 20) == [200] * 20

        assert client.delete(f"/oauth/authorizations/{made[0]['id']}").status_code == 200
        revoked = time.monotonic()
        done = two_pg_workers.tenku(
            "tokens", "revoke", made[1]["id"], "--data-dir", str(two_pg_workers.data_dir)
        )
        assert done.returncode == 0, done.stderr
        revoked_by_cli = time.monotonic()

    time.sleep(max(0.0, revoked + BOUND - time.monotonic()))
    assert statuses(two_pg_workers, by_api, 20) == [401] * 20
    time.sleep(max(0.0, revoked_by_cli + BOUND - time.monotonic()))
    assert statuses(two_pg_workers, by_cli, 20) == [401] * 20
    # The key that revoked them still works.
    assert statuses(two_pg_workers, key, 4) == [200] * 4
