from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.models import AddonAttachment
from tenku.ids import as_uuid
from tenku.resources.addon import lookup, service
from tenku.resources.addon.registry import AddonCatalog
from tenku.resources.addon.render import render_attachments
from tenku.resources.addon_attachment.schemas import (
    AttachmentCreate,
    AttachmentOut,
    AttachmentResolve,
)
from tenku.resources.app.access import OnApp, get_app, permitted, reading, visible_app_ids
from tenku.web.deps import AppsReader, AppsWriter, Db, ReadDb, TransactionRoute, body
from tenku.web.errors import InvalidParams
from tenku.web.lists import paged, ranged, sorting
from tenku.web.ranges import field
from tenku.web.render import list_response, model_response

router = APIRouter(route_class=TransactionRoute)
SORT = sorting(AddonAttachment.id, ("name", field(AddonAttachment.name, unique=False)))


async def _one(db: AsyncSession, att: AddonAttachment, status: int = 200) -> Response:
    [out] = await render_attachments(db, [att])
    return model_response(out, status=status)


async def _page(db: AsyncSession, request: Request, stmt: Select[AddonAttachment]) -> Response:
    return await paged(
        request, db, stmt, SORT, AttachmentOut, lambda atts: render_attachments(db, atts)
    )


@router.post("/addon-attachments", response_model=AttachmentOut, status_code=201)
async def create(
    caller: AppsWriter,
    db: Db,
    cat: AddonCatalog,
    params: AttachmentCreate = body(AttachmentCreate),
) -> Response:
    if params.namespace:
        raise InvalidParams("Credential namespaces are not supported by this platform.")
    addon = await lookup.visible_addon(db, caller.account.id, params.addon)
    # Sharing an add-on is an add-on change on both apps.
    await lookup.require_billing_access(db, caller.account.id, addon, "addons:edit")
    app = await get_app(db, caller, params.app, "addons:edit")
    att = await service.attach(
        db, cat, addon, app, caller.account, params.name, params.confirm, params.force
    )
    return await _one(db, att, status=201)


@router.delete("/addon-attachments/{addon_attachment_id}", response_model=AttachmentOut)
async def delete(addon_attachment_id: str, caller: AppsWriter, db: Db) -> Response:
    att = await lookup.visible_attachment(db, caller.account.id, addon_attachment_id)
    await lookup.require_detach_access(db, caller.account.id, att)
    [out] = await render_attachments(db, [att])
    await service.detach(db, att, caller.account)
    return model_response(out)


@router.get("/addon-attachments/{addon_attachment_id}", response_model=AttachmentOut)
async def info(addon_attachment_id: str, caller: AppsReader, db: Db) -> Response:
    att = await lookup.visible_attachment(db, caller.account.id, addon_attachment_id)
    return await _one(db, att)


@router.get("/addon-attachments", response_model=list[AttachmentOut], openapi_extra=ranged(SORT))
async def list_all(request: Request, caller: AppsReader, db: Db) -> Response:
    mine = visible_app_ids(caller.account.id)
    return await _page(db, request, select(AddonAttachment).where(AddonAttachment.app_id.in_(mine)))


@router.get(
    "/addons/{addon_id_or_name}/addon-attachments",
    response_model=list[AttachmentOut],
    openapi_extra=ranged(SORT),
)
async def list_by_addon(
    request: Request, addon_id_or_name: str, caller: AppsReader, db: Db
) -> Response:
    addon = await lookup.visible_addon(db, caller.account.id, addon_id_or_name)
    stmt = select(AddonAttachment).where(AddonAttachment.addon_id == addon.id)
    if not await permitted(db, addon.app_id, caller.account.id, "addons:view"):
        # Without rights on the billing app, only the caller's own apps' attachments show.
        stmt = stmt.where(AddonAttachment.app_id.in_(visible_app_ids(caller.account.id)))
    return await _page(db, request, stmt)


@router.get(
    "/apps/{app_id_or_name}/addon-attachments",
    response_model=list[AttachmentOut],
    openapi_extra=ranged(SORT),
)
async def list_by_app(request: Request, on: Annotated[OnApp, reading("addons:view")]) -> Response:
    stmt = select(AddonAttachment).where(AddonAttachment.app_id == on.app.id)
    return await _page(on.db, request, stmt)


@router.get(
    "/apps/{app_id_or_name}/addon-attachments/{addon_attachment_id_or_name}",
    response_model=AttachmentOut,
)
async def info_by_app(
    addon_attachment_id_or_name: str, on: Annotated[OnApp, reading("addons:view")]
) -> Response:
    att = await lookup.attachment_in_app(on.db, on.app, addon_attachment_id_or_name)
    return await _one(on.db, att)


@router.post("/actions/addon-attachments/resolve", response_model=list[AttachmentOut])
async def resolve(
    caller: AppsReader, db: ReadDb, params: AttachmentResolve = body(AttachmentResolve)
) -> Response:
    """The CLI's way to turn an attachment identifier into attachments (not in the reference)."""
    ident, service_filter = params.addon_attachment, params.addon_service or None
    app_part, sep, rest = ident.partition("::")
    found: list[AddonAttachment] = []
    if params.app or sep:
        app = await get_app(db, caller, app_part if sep else str(params.app), "addons:view")
        found = await lookup.match_attachments(db, app, rest if sep else ident, service_filter)
    elif as_uuid(ident) is not None:
        att = await db.get(AddonAttachment, as_uuid(ident))
        if att is not None and await permitted(db, att.app_id, caller.account.id, "addons:view"):
            found = [att]
    if not found:
        raise lookup.attachment_not_found()
    if len(found) > 1:
        raise lookup.ambiguous([a.name for a in found], "add-on attachments")
    items = await render_attachments(db, found)
    return list_response(AttachmentOut, items)
