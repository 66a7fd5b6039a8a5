"""Pipelines, couplings and released slugs for the pipeline resources' tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import User
from tests.resources.slug.test_slugs import create, tarball, upload


async def make_pipeline(user: User, name: str, **fields: Any) -> dict[str, Any]:
    r = await user.post("/pipelines", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def couple(user: User, app: str, pipeline: str, stage: str) -> dict[str, Any]:
    r = await user.post(
        "/pipeline-couplings", json={"app": app, "pipeline": pipeline, "stage": stage}
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def release_slug(user: User, app: str, text: str = "v1", **fields: Any) -> dict[str, Any]:
    """A slug of `app` (its tarball uploaded) released on it; the release."""
    slug = await create(user, app, commit="0123456789abcdef0123456789abcdef01234567", **fields)
    assert (await upload(user.client, slug, tarball(text))).status_code == 200
    r = await user.post(f"/apps/{app}/releases", json={"slug": slug["id"]})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data
