"""An API worker that dies while a provider provisions an add-on leaves nothing behind.

The request commits the add-on as `provisioning` with its provider call marked, then
calls the partner, which makes the resource but does not answer. The worker is killed
at that moment. The runtime of the same `tenku up` finds the call unanswered after
`TENKU_ADDON_CALL_GRACE`, deprovisions at the partner and removes the add-on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.addons.fake_partner import FakePartner
from tests.addons.support import install_manifest, manifest, partner
from tests.e2e.conftest import V3, LiveServer, launch

pytestmark = pytest.mark.e2e
__all__ = ["partner"]  # the fixture


def api_workers(server: LiveServer) -> list[int]:
    """The `tenku up` process's worker processes (not the runtime, not helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            if ppid == server.pid and b"spawn_main" in cmdline:
                found.append(int(entry.name))
    return found


def wait_for(check: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def test_a_worker_killed_mid_provision_leaves_nothing(partner: FakePartner, tmp_path: Path) -> None:
    install_manifest(tmp_path / "data", manifest(partner))
    env = {
        # The worker must still be waiting on the partner when it is killed.
        "TENKU_ADDON_PARTNER_TIMEOUT": "120",
        "TENKU_ADDON_CALL_GRACE": "2",
    }
    with launch("sqlite", tmp_path, None, workers=2, extra_env=env) as server:
        key = server.create_user("crash@example.com").key
        headers = {"Accept": V3, "Authorization": f"Bearer {key}"}
        with httpx.Client(
            base_url=server.url, headers=headers, timeout=150, trust_env=False
        ) as client:
            assert client.post("/apps", json={"name": "crashy"}).status_code == 201
            outcome: list[object] = []

            def create() -> None:
                try:
                    body = {"plan": "fake-partner:hang"}
                    outcome.append(client.post("/apps/crashy/addons", json=body))
                except httpx.TransportError as exc:
                    outcome.append(exc)

            caller = threading.Thread(target=create, daemon=True)
            caller.start()
            assert partner.arrived.wait(30), "the partner was never asked to provision"
            [provision] = [s for s in partner.seen if s.method == "POST"]
            addon_id = provision.body["uuid"]
            assert addon_id in partner.resources
            workers = api_workers(server)
            assert len(workers) == 2, workers
            for pid in workers:
                os.kill(pid, signal.SIGKILL)
            caller.join(30)
            assert len(outcome) == 1, "the request should have ended with its worker"
            assert isinstance(outcome[0], httpx.TransportError), outcome

            # The supervisor starts new workers; the runtime settles the cut-off call.
            def settled() -> bool:
                try:
                    return client.get(f"/addons/{addon_id}").status_code == 404
                except httpx.TransportError:
                    return False

            wait_for(settled, "the cut-off add-on to be removed")
            deleted = [s.path for s in partner.seen if s.method == "DELETE"]
            assert deleted == [f"/heroku/resources/{addon_id}"]
            assert addon_id not in partner.resources
            assert client.get("/apps/crashy/addons").json() == []
            releases = client.get("/apps/crashy/releases").json()
            # Nobody was told of the add-on, so no release mentions it.
            assert [r["description"] for r in releases] == ["Initial release"]
