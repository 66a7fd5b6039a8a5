"""The buildpack registry, for Tenku's built-in buildpacks only.

`heroku buildpacks:set heroku/python` asks the registry (HEROKU_BUILDPACK_REGISTRY_URL,
no Authorization, the buildpack's id with its slash encoded) for `blob_url`, then
installs that URL on the app; `buildpacks:info`, `:versions` and `:search` read the
rest. `blob_url` really downloads the buildpack, as a tarball built from its directory.
"""

from __future__ import annotations

import asyncio
import base64
import os
import tarfile
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tenku.buildpacks import BUILTIN, DESCRIPTIONS, URN_PREFIX
from tenku.ids import EPOCH, stable_id
from tenku.resources.buildpack_registry.schemas import (
    ReadmeOut,
    RegistryBuildpackOut,
    RevisionOut,
    SourceOut,
    SupportOut,
)
from tenku.storage.urls import base_url
from tenku.web.deps import TransactionRoute, app_context
from tenku.web.docs import answers
from tenku.web.errors import NotFound
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
# `buildpacks:search` filters with these (any number of each), as the registry takes them.
SEARCH = {
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": {"type": "array", "items": {"type": "string"}}
            if many
            else {"type": "string"},
            **({"style": "form", "explode": True} if many else {}),
        }
        for name, many, description in (
            ("in[namespace][]", True, "only buildpacks in these namespaces"),
            ("in[name][]", True, "only buildpacks of these names"),
            ("like[description]", False, "only buildpacks whose description holds this"),
        )
    ]
}
TARBALL = answers("The buildpack as a gzipped tarball.", "application/gzip", binary=True)
CHUNK = 1 << 16
SKIPPED = ("__pycache__", ".git")


def _not_found(ident: str) -> NotFound:
    return NotFound("buildpack", f"Couldn't find that buildpack ({ident}).")


def _known(ident: str) -> str:
    if ident not in BUILTIN or not BUILTIN[ident].is_dir():
        raise _not_found(ident)
    return ident


def _describe(request: Request, name: str) -> RegistryBuildpackOut:
    namespace, short = name.split("/", 1)
    base = base_url(app_context(request).settings, request)
    return RegistryBuildpackOut(
        blob_url=f"{base}/blobs/buildpacks/{namespace}/{short}.tgz",
        category="languages",
        created_at=EPOCH,
        description=DESCRIPTIONS.get(name, ""),
        id=stable_id("buildpack", name),
        logo_url=None,
        name=short,
        namespace=namespace,
        source=SourceOut(type="tenku"),
        support=SupportOut(method="tenku", address="Built into Tenku"),
        two_factor_authentication=False,
        updated_at=EPOCH,
    )


def _available() -> list[str]:
    return sorted(name for name, path in BUILTIN.items() if path.is_dir())


@router.get("/buildpacks", response_model=list[RegistryBuildpackOut], openapi_extra=SEARCH)
async def search(request: Request) -> Response:
    """Search the built-in buildpacks (`buildpacks:search`)."""
    params = request.query_params
    namespaces = set(params.getlist("in[namespace][]"))
    names = set(params.getlist("in[name][]"))
    like = (params.get("like[description]") or "").lower()
    found = []
    for full in _available():
        namespace, short = full.split("/", 1)
        if namespaces and namespace not in namespaces:
            continue
        if names and short not in names:
            continue
        if like and like not in DESCRIPTIONS.get(full, "").lower():
            continue
        found.append(_describe(request, full))
    return list_response(RegistryBuildpackOut, found)


@router.get("/buildpacks/{buildpack}", response_model=RegistryBuildpackOut)
async def info(request: Request, buildpack: str) -> Response:
    """A buildpack by `<namespace>/<name>`: `buildpacks:set` installs its `blob_url`."""
    try:
        name = _known(buildpack)
    except NotFound as err:
        # The CLI reads `blob_url` without looking at the status and installs whatever it
        # gets; this one makes the installation refuse with a message naming the buildpack
        # (otherwise it sends nothing at all).
        err.extra["blob_url"] = URN_PREFIX + buildpack
        raise
    return model_response(_describe(request, name))


@router.get("/buildpacks/{buildpack}/revisions", response_model=list[RevisionOut])
async def revisions(buildpack: str) -> Response:
    """A buildpack's revisions (`buildpacks:versions`)."""
    name = _known(buildpack)
    revision = RevisionOut(
        buildpack_id=stable_id("buildpack", name),
        checksum=None,
        created_at=EPOCH,
        id=stable_id("buildpack-revision", name),
        license=None,
        published_by=None,
        release=1,
        status="published",
        updated_at=EPOCH,
    )
    return list_response(RevisionOut, [revision])


@router.get("/buildpacks/{buildpack}/readme", response_model=ReadmeOut)
async def readme(buildpack: str) -> Response:
    """A buildpack's README, base64-encoded (`buildpacks:info`)."""
    name = _known(buildpack)
    path = BUILTIN[name] / "README.md"
    text = (
        path.read_bytes()
        if path.is_file()
        else (f"# {name}\n\n{DESCRIPTIONS.get(name, '')}\n").encode()
    )
    return model_response(ReadmeOut(content=base64.b64encode(text).decode(), encoding="base64"))


def _pack(source: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix="tenku-buildpack-", suffix=".tgz")
    os.close(fd)

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if any(p in SKIPPED for p in parts) or info.name.endswith(".pyc"):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    try:
        with tarfile.open(name, "w:gz") as tar:
            for child in sorted(source.iterdir()):
                tar.add(child, arcname=child.name, filter=keep)
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


async def _stream_and_remove(path: Path) -> AsyncIterator[bytes]:
    try:
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()
    finally:
        await asyncio.to_thread(path.unlink, True)


# Under /blobs/ so that anything can download it, as from the real registry's storage.
@router.get("/blobs/buildpacks/{namespace}/{filename}", openapi_extra=TARBALL)
async def tarball(namespace: str, filename: str) -> Response:
    """A built-in buildpack as a tarball, for anyone to download."""
    if not filename.endswith(".tgz"):
        raise _not_found(f"{namespace}/{filename}")
    name = _known(f"{namespace}/{filename.removesuffix('.tgz')}")
    packed = await asyncio.to_thread(_pack, BUILTIN[name])
    size = packed.stat().st_size
    return StreamingResponse(
        _stream_and_remove(packed),
        headers={"Content-Length": str(size)},
        media_type="application/gzip",
    )
