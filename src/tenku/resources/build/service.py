"""Builds: recorded here as pending; the runtime picks them up once the request commits."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings
from tenku.db.models import Account, App, Build
from tenku.ids import as_uuid
from tenku.resources.build.schemas import BuildCreate
from tenku.resources.buildpack_installation.service import canonical
from tenku.resources.common import get_in_app
from tenku.storage.checksums import sha256_hex
from tenku.storage.signing import Signer
from tenku.web.errors import InvalidParams
from tenku.web.lists import sorting
from tenku.web.ranges import field

# Build ids are random: the time they were requested is the natural order.
SORT = sorting(
    Build.id, ("started_at", field(Build.started_at, unique=False)), default="started_at"
)
STREAM_PREFIX = "/streams/builds/"
STREAM_METHOD = "BUILD-OUTPUT"
# Long enough to open it while the build runs; a stream open when it expires goes on.
STREAM_TTL = 3600


def stream_path(signer: Signer, build_id: uuid.UUID, reader: uuid.UUID) -> str:
    """A build's output URL for one reader: it expires, and when it is opened the reader
    must still have access to the app (every body of the build carries a fresh one)."""
    token = signer.sign(f"{build_id}:{reader}", STREAM_METHOD, STREAM_TTL)
    return f"{STREAM_PREFIX}{build_id}/{token}"


def stream_reader(signer: Signer, build_id: uuid.UUID, token: str) -> uuid.UUID | None:
    """Whom a build output URL was given to, if it is genuine, current and this build's."""
    key = signer.verify(token, STREAM_METHOD)
    build, _, reader = (key or "").partition(":")
    if build != str(build_id):
        return None
    return as_uuid(reader)


def _check_source(params: BuildCreate) -> None:
    blob = params.source_blob
    scheme = urlsplit(blob.url).scheme.lower()
    if scheme not in ("http", "https", "file") or any(c.isspace() for c in blob.url):
        raise InvalidParams("Invalid source_blob.url provided: it must be an http(s) or file URL.")
    if blob.checksum is not None and sha256_hex(blob.checksum) is None:
        raise InvalidParams(
            "Invalid source_blob.checksum provided: expected SHA256:<64 hex digits>."
        )


async def create_build(
    db: AsyncSession,
    settings: Settings,
    app: App,
    user: Account,
    params: BuildCreate,
    *,
    blob_key: str | None = None,
) -> Build:
    _check_source(params)
    packs = None
    if params.buildpacks:
        packs = []
        for given in params.buildpacks:
            url, name = canonical(settings, given.spec)
            packs.append({"url": url, "name": name})
    build = Build(
        app_id=app.id,
        user_id=user.id,
        user_email=user.email,
        status="pending",
        source_url=params.source_blob.url,
        source_checksum=params.source_blob.checksum,
        source_version=params.source_blob.version,
        source_version_description=params.source_blob.version_description,
        source_blob_key=blob_key,
        buildpacks=packs,
        stack=app.build_stack,
    )
    db.add(build)
    await db.flush()
    return build


async def get_build(db: AsyncSession, app: App, ident: str) -> Build:
    return await get_in_app(db, Build, app.id, ident, "build")


def builds_of(app_id: uuid.UUID) -> Select[Build]:
    return select(Build).where(Build.app_id == app_id)
