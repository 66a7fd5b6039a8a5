"""What a local user who is not Tenku gets from a running installation: nothing.

Its files are Tenku's alone, and a client cannot pass for another address (and so get a
fresh rate-limit budget) by sending X-Forwarded-For.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import V3, LiveServer, launch

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def slow_budget(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # One request per 36 s comes back, so consecutive requests show the budget going down.
    root = tmp_path_factory.mktemp("private")
    with launch("sqlite", root, extra_env={"TENKU_RATE_LIMIT_PER_HOUR": "100"}) as server:
        yield server


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_fresh_installation_is_private(slow_budget: LiveServer) -> None:
    data = slow_budget.data_dir
    slow_budget.create_user("private@example.com")
    assert mode(data) == 0o700
    for name in ("secret.key", "tenku.db", "tls/ca-key.pem", "tls/server-key.pem"):
        assert mode(data / name) & 0o077 == 0, name
    # Whatever else it wrote is its own too, the CA certificate aside (clients are given it).
    loose = [
        str(p.relative_to(data))
        for p in data.rglob("*")
        if mode(p) & 0o077 and p.name not in ("ca.pem", "server.pem")
    ]
    assert loose == []


def test_x_forwarded_for_gives_no_fresh_budget(slow_budget: LiveServer) -> None:
    with httpx.Client(base_url=slow_budget.url, trust_env=False, timeout=30) as client:
        seen = []
        for forwarded in ("203.0.113.7", "198.51.100.9", "192.0.2.44"):
            r = client.get("/account", headers={"Accept": V3, "X-Forwarded-For": forwarded})
            assert r.status_code == 401
            seen.append(int(r.headers["ratelimit-remaining"]))
    # One budget, the connecting address's, spent once per request.
    assert seen == [seen[0], seen[0] - 1, seen[0] - 2]
