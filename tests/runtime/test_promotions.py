"""Pipeline promotions carried out by the runtime: a real slug released on two target
apps whose dynos restart with it, and a runtime killed mid-promotion whose successor
resumes the promotion."""

from __future__ import annotations

import asyncio
import sys
from functools import partial
from typing import Any

import pytest

from tenku.runtime.worker import Runtime
from tests.conftest import User
from tests.runtime.conftest import Live
from tests.runtime.test_dynos import APP_DIR, TYPES, all_up, get, until

# The target apps run this slug first: the same server, saying which slug it is from.
OLD_TYPES = {"web": "GREETING=old-slug python3 server.py"}


async def greets(live: Live, app: str, wanted: str) -> bool:
    r = await get(live, app)
    return r.status_code == 200 and r.json()["greeting"] == wanted


async def pipeline_of(live: Live, owner: User, targets: dict[str, str]) -> dict[str, Any]:
    """A pipeline with `shop-src` (staging, the dyno app's slug released) and the `targets`
    (production, each with GREETING set and an older slug running); the apps' ids."""
    r = await owner.post("/pipelines", json={"name": "shop"})
    assert r.status_code == 201, r.text
    pipeline = r.json()
    ids = {"shop-src": (await owner.create_app("shop-src"))["id"]}
    for app, value in targets.items():
        ids[app] = (await owner.create_app(app))["id"]
        r = await owner.patch(f"/apps/{app}/config-vars", json={"GREETING": value})
        assert r.status_code == 200
        await live.release_slug(owner, app, APP_DIR, OLD_TYPES)
    for app in ids:
        stage = "staging" if app == "shop-src" else "production"
        r = await owner.post(
            "/pipeline-couplings", json={"app": app, "pipeline": pipeline["id"], "stage": stage}
        )
        assert r.status_code == 201, r.text
    await live.release_slug(owner, "shop-src", APP_DIR, TYPES)
    return {"pipeline": pipeline, "ids": ids}


async def promote(owner: User, shop: dict[str, Any], *targets: str) -> dict[str, Any]:
    ids = shop["ids"]
    r = await owner.post(
        "/pipeline-promotions",
        json={
            "pipeline": {"id": shop["pipeline"]["id"]},
            "source": {"app": {"id": ids["shop-src"]}},
            "targets": [{"app": {"id": ids[t]}} for t in targets],
        },
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    assert data["status"] == "pending"
    return data


async def completed(owner: User, promotion: dict[str, Any]) -> list[dict[str, Any]] | None:
    r = await owner.get(f"/pipeline-promotions/{promotion['id']}")
    if r.json()["status"] != "completed":
        return None
    targets: list[dict[str, Any]] = (
        await owner.get(f"/pipeline-promotions/{promotion['id']}/promotion-targets")
    ).json()
    return targets


async def test_a_promotion_releases_the_slug_on_both_targets_and_restarts_them(
    live: Live, owner: User
) -> None:
    shop = await pipeline_of(live, owner, {"shop-eu": "hello eu", "shop-us": "hello us"})
    for app in ("shop-eu", "shop-us"):
        await until(partial(all_up, owner, app, {"web.1"}), f"{app} up")
        assert await greets(live, app, "old-slug")

    promotion = await promote(owner, shop, "shop-eu", "shop-us")
    targets = await until(lambda: completed(owner, promotion), "the promotion completed")
    assert {t["status"] for t in targets} == {"succeeded"}
    for app, value in (("shop-eu", "hello eu"), ("shop-us", "hello us")):
        # The source's slug, with the target's own config vars.
        await until(partial(greets, live, app, value), f"{app} running the promoted slug")
        releases = (await owner.get(f"/apps/{app}/releases")).json()
        assert releases[-1]["description"] == "Promote shop-src v2"
        assert releases[-1]["current"] is True


@pytest.mark.backend("postgresql")
async def test_a_runtime_killed_mid_promotion_is_resumed_by_the_next(
    live: Live, owner: User
) -> None:
    shop = await pipeline_of(live, owner, {"shop-eu": "hello eu", "shop-us": "hello us"})
    await live.runtime.stop()
    flag = live.tmp / "promoted-one"
    runtime = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DIES_AFTER_ONE_TARGET,
        str(live.settings.data_dir),
        str(flag),
        env=live.process_env(),
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        promotion = await promote(owner, shop, "shop-eu", "shop-us")

        async def half_done() -> bool:
            return flag.exists()

        await until(half_done, "one target promoted")
    finally:
        runtime.kill()
        await runtime.wait()
    r = await owner.get(f"/pipeline-promotions/{promotion['id']}/promotion-targets")
    assert sorted(t["status"] for t in r.json()) == ["pending", "succeeded"]
    assert (await owner.get(f"/pipeline-promotions/{promotion['id']}")).json()["status"] == (
        "pending"
    )

    async with Runtime(live.settings, live.api.database, poll_interval=0.5):
        targets = await until(lambda: completed(owner, promotion), "the promotion resumed")
        assert {t["status"] for t in targets} == {"succeeded"}
        for app, value in (("shop-eu", "hello eu"), ("shop-us", "hello us")):
            await until(partial(greets, live, app, value), f"{app} running the promoted slug")
            descriptions = [
                r["description"] for r in (await owner.get(f"/apps/{app}/releases")).json()
            ]
            assert descriptions.count("Promote shop-src v2") == 1


# A `tenku runtime` that promotes one target, says so in a file, and then hangs until it
# is killed: its promotion is left claimed, half done.
DIES_AFTER_ONE_TARGET = """
import asyncio, pathlib, sys
from tenku.config import load_settings
from tenku.runtime import promotions, worker

real = promotions.Promoter._target
done = []

async def target(self, target_id):
    if done:
        pathlib.Path(sys.argv[2]).write_text("one")
        await asyncio.Event().wait()
    await real(self, target_id)
    done.append(target_id)

promotions.Promoter._target = target
asyncio.run(worker.serve(load_settings(data_dir=sys.argv[1])))
"""
