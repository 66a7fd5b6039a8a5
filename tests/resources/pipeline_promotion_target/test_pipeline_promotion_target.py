from __future__ import annotations

from typing import Any

from tests.conftest import User
from tests.resources.pipeline.support import couple, make_pipeline, release_slug


async def test_targets_are_listed_in_pages(alice: User) -> None:
    pipeline = await make_pipeline(alice, "shop")
    ids = []
    for name, stage in (("src", "staging"), ("dst-1", "production"), ("dst-2", "production")):
        ids.append((await alice.create_app(name))["id"])
        await couple(alice, name, pipeline["id"], stage)
    await release_slug(alice, "src")
    r = await alice.post(
        "/pipeline-promotions",
        json={
            "pipeline": {"id": pipeline["id"]},
            "source": {"app": {"id": ids[0]}},
            # A target named twice is promoted to once.
            "targets": [{"app": {"id": ids[1]}}, {"app": {"id": ids[2]}}, {"app": {"id": ids[1]}}],
        },
    )
    assert r.status_code == 201, r.text
    path = f"/pipeline-promotions/{r.json()['id']}/promotion-targets"
    first = await alice.get(path, headers={"Range": "id ..; max=1"})
    assert first.status_code == 206
    assert first.headers["Accept-Ranges"] == "id"
    rest = await alice.get(path, headers={"Range": first.headers["Next-Range"]})
    assert rest.status_code == 200
    seen: list[dict[str, Any]] = first.json() + rest.json()
    assert sorted(t["app"]["id"] for t in seen) == sorted(ids[1:])
    assert {t["status"] for t in seen} == {"pending"}
