"""Blob URLs: `PUT /blobs/<token>` stores a body, `GET /blobs/<token>` streams it back.

The signed token is the only credential (clients send no Authorization here). Bodies
stream straight to the blob store and back, never whole in memory, and no database
transaction is open while they do.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from tenku.resources.slug import service as slugs
from tenku.storage.blobs import check_key
from tenku.storage.urls import SLUG_REF
from tenku.web.context import AppContext
from tenku.web.deps import app_context
from tenku.web.docs import answers, header, merged
from tenku.web.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidParams,
    NotFound,
    RangeNotSatisfiable,
)

router = APIRouter()

# Compressed slugs over this are refused by the platform anyway.
SLUG_LIMIT = 500 * 1024 * 1024
SOURCE_LIMIT = 1024 * 1024 * 1024
# Chunks are gathered up to this size before each write, not beyond.
WRITE_BATCH = 1024 * 1024
BYTES_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


class PayloadTooLarge(ApiError):
    status = 413
    id = "request_entity_too_large"
    default_message = "The upload is larger than this URL accepts."


class _TooLarge(Exception):
    pass


class _Mismatch(Exception):
    def __init__(self, actual: str) -> None:
        self.actual = actual


def _refused() -> Forbidden:
    return Forbidden("This blob URL is invalid or has expired.")


def _slug_id(subject: str) -> uuid.UUID:
    try:
        return uuid.UUID(subject[len(SLUG_REF) :])
    except ValueError as exc:
        raise _refused() from exc


def _storage_key(subject: str) -> str:
    try:
        return check_key(subject)
    except ValueError as exc:
        raise _refused() from exc


class _Upload:
    """The request body as chunks for the store, checked for size and checksum."""

    def __init__(self, request: Request, limit: int, sha256: str | None) -> None:
        self.request = request
        self.limit = limit
        self.expected = sha256
        self.digest = hashlib.sha256()
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The upload is larger than this URL accepts ({limit} bytes).")

    async def chunks(self) -> AsyncIterator[bytes]:
        received = 0
        batch: list[bytes] = []
        batched = 0
        async for chunk in self.request.stream():
            if not chunk:
                continue
            received += len(chunk)
            if received > self.limit:
                raise _TooLarge()
            self.digest.update(chunk)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= WRITE_BATCH:
                yield b"".join(batch)
                batch.clear()
                batched = 0
        if batch:
            yield b"".join(batch)
        # Raised before the store renames the upload into place, so it never lands.
        if self.expected is not None and self.digest.hexdigest() != self.expected:
            raise _Mismatch(self.digest.hexdigest())

    async def store(self, ctx: AppContext, key: str) -> int:
        try:
            return await ctx.blobs.put(key, self.chunks())
        except _TooLarge as exc:
            raise PayloadTooLarge(
                f"The upload is larger than this URL accepts ({self.limit} bytes)."
            ) from exc
        except _Mismatch as exc:
            raise InvalidParams(
                f"The upload's checksum (SHA256:{exc.actual}) does not match the slug's "
                f"checksum (SHA256:{self.expected}); nothing was stored."
            ) from exc
        except ClientDisconnect as exc:
            raise BadRequest("The upload was interrupted; nothing was stored.") from exc


async def _put_slug(ctx: AppContext, request: Request, slug_id: uuid.UUID) -> None:
    async with ctx.db.session(write=False) as db, db.begin():
        expected = await slugs.upload_target(db, slug_id)
    upload = _Upload(request, SLUG_LIMIT, expected)
    key = slugs.new_blob_key(slug_id)
    size = await upload.store(ctx, key)
    try:
        async with ctx.db.session(write=True) as db, db.begin():
            attached = await slugs.record_upload(db, slug_id, key, size, upload.digest.hexdigest())
    except BaseException:
        await ctx.blobs.delete(key)
        raise
    if not attached:
        await ctx.blobs.delete(key)
        raise Conflict("This slug's tarball is already uploaded; a slug never changes.")


@router.put(
    "/blobs/{token}",
    openapi_extra=merged(
        answers("Stored; the body is empty."),
        {
            "requestBody": {
                "required": True,
                "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            }
        },
    ),
)
async def put_blob(token: str, request: Request) -> Response:
    """Store a source or slug tarball at a signed upload URL (the token is the credential)."""
    ctx = app_context(request)
    subject = ctx.signer.verify(token, "PUT")
    if subject is None:
        raise _refused()
    if subject.startswith(SLUG_REF):
        await _put_slug(ctx, request, _slug_id(subject))
    else:
        await _Upload(request, SOURCE_LIMIT, None).store(ctx, _storage_key(subject))
    return Response(status_code=200)


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) for a single `bytes=` range; None to send everything."""
    if not header:
        return None
    m = BYTES_RANGE.match(header)
    if m is None:
        # Several ranges, or another unit: answering with the whole blob is allowed.
        return None
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:
        length = min(int(last), size)
        if length == 0:
            raise _unsatisfiable(size)
        return size - length, length
    start = int(first)
    if start >= size:
        raise _unsatisfiable(size)
    end = min(int(last), size - 1) if last else size - 1
    if end < start:
        return None
    return start, end - start + 1


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    err = RangeNotSatisfiable(f"The blob has {size} bytes.")
    err.headers["Content-Range"] = f"bytes */{size}"
    return err


@router.get(
    "/blobs/{token}",
    openapi_extra=merged(
        answers("The whole blob.", "application/octet-stream", binary=True),
        answers(
            "The bytes `Range` asked for.", "application/octet-stream", status=206, binary=True
        ),
        header("Range", "One `bytes=<first>-[<last>]` or `bytes=-<suffix>` range."),
    ),
)
async def get_blob(token: str, request: Request) -> Response:
    """Download what was uploaded to a signed blob URL (the token is the credential)."""
    ctx = app_context(request)
    subject = ctx.signer.verify(token, "GET")
    if subject is None:
        raise _refused()
    key: str | None
    if subject.startswith(SLUG_REF):
        async with ctx.db.session(write=False) as db, db.begin():
            key = await slugs.blob_key_of(db, _slug_id(subject))
    else:
        key = _storage_key(subject)
    size = await ctx.blobs.size(key) if key is not None else None
    if key is None or size is None:
        raise NotFound("blob", "Nothing has been uploaded to this blob URL.")
    headers = {"Accept-Ranges": "bytes"}
    wanted = _range(request.headers.get("range"), size)
    if wanted is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(
            ctx.blobs.get(key), headers=headers, media_type="application/octet-stream"
        )
    start, length = wanted
    headers["Content-Length"] = str(length)
    headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    return StreamingResponse(
        ctx.blobs.get(key, start, length),
        status_code=206,
        headers=headers,
        media_type="application/octet-stream",
    )
