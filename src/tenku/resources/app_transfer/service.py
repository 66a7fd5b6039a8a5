"""App transfers: the owner of a personal app offers it to another account, which accepts
it (the app becomes theirs) or declines it; the sender may cancel the offer until then.

Accepting is one transaction. It first claims the transfer with a conditional UPDATE of
the pending row, so that of an accept and a cancel (or two accepts) racing, exactly one
changes the row and the other finds it decided or gone. Then it moves the app: its owner,
and the collaborator rows (the recipient's becomes the owner's; the old owner stays on
as a collaborator, as on Heroku). Add-ons are billed to their app (`Addon.app_id`), so
they and their billing go with it; nothing of theirs is recorded per account.

Team apps change hands with PATCH /teams/apps/{app} (`owner`), not with a transfer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.base import utcnow
from tenku.db.models import Account, App, AppTransfer, Collaborator
from tenku.ids import as_uuid
from tenku.resources.account.service import find_account
from tenku.resources.app.access import resolve_app
from tenku.resources.app_transfer.schemas import AppTransferCreate, AppTransferOut
from tenku.resources.common import AccountRef, Ref
from tenku.web.deps import Principal
from tenku.web.errors import Forbidden, InvalidParams, NotFound

PENDING = "pending"
DECIDED = ("accepted", "declined")


def transfers_of(account_id: uuid.UUID) -> Select[AppTransfer]:
    """The transfers the account sent or received."""
    return select(AppTransfer).where(
        or_(AppTransfer.owner_id == account_id, AppTransfer.recipient_id == account_id)
    )


async def get_transfer(db: AsyncSession, caller: Account, ident: str) -> AppTransfer:
    """`{app_transfer_id_or_name}`: a transfer's id, or its app's name (then the app's
    latest transfer, the pending one if any). Others' transfers are not found."""
    stmt = transfers_of(caller.id)
    uid = as_uuid(ident)
    if uid is not None:
        stmt = stmt.where(AppTransfer.id == uid)
    else:
        stmt = (
            stmt.join(App, App.id == AppTransfer.app_id)
            .where(App.name == ident)
            .order_by((AppTransfer.state == PENDING).desc(), AppTransfer.created_at.desc())
            .limit(1)
        )
    found = (await db.execute(stmt)).scalars().first()
    if found is None:
        raise NotFound("app_transfer")
    return found


async def _pending_for(db: AsyncSession, app: App) -> AppTransfer | None:
    stmt = select(AppTransfer).where(AppTransfer.app_id == app.id, AppTransfer.state == PENDING)
    found: AppTransfer | None = (await db.execute(stmt)).scalar_one_or_none()
    return found


async def create(
    db: AsyncSession, caller: Principal, params: AppTransferCreate
) -> tuple[AppTransfer, App, Account]:
    """Offer a personal app (the caller may transfer it: its owner) to another account."""
    app, _ = await resolve_app(db, caller, params.app, "app:transfer")
    if app.organization_id is not None or app.owner_id is None:
        raise InvalidParams(
            f"{app.name} is a team app: transfer it with PATCH /teams/apps/{app.name} and "
            "`owner` set to a team, or to the email of one of its members."
        )
    ident = params.recipient
    recipient = caller.account if ident == "~" else await find_account(db, ident)
    if recipient is None:
        raise NotFound("user")
    if recipient.id == app.owner_id:
        raise InvalidParams(f"{recipient.email} already owns {app.name}.")
    pending = await _pending_for(db, app)
    if pending is not None:
        to = await db.get(Account, pending.recipient_id)
        raise InvalidParams(
            f"{app.name} is already being transferred to {to.email if to else 'someone'}: "
            f"cancel that transfer first (DELETE /account/app-transfers/{pending.id})."
        )
    transfer = AppTransfer(app_id=app.id, owner_id=app.owner_id, recipient_id=recipient.id)
    db.add(transfer)
    try:
        await db.flush()
    except IntegrityError as exc:
        # Another request offered the app at the same moment.
        raise InvalidParams(f"{app.name} is already being transferred.") from exc
    return transfer, app, recipient


async def _settled(db: AsyncSession, transfer_id: uuid.UUID) -> InvalidParams | NotFound:
    """Why a transfer could not be claimed: decided meanwhile, or cancelled (gone)."""
    stmt = select(AppTransfer.state).where(AppTransfer.id == transfer_id)
    state = (await db.execute(stmt)).scalar_one_or_none()
    if state is None:
        return NotFound("app_transfer")
    return InvalidParams(f"This transfer has already been {state}.")


async def decide(
    db: AsyncSession, caller: Account, transfer: AppTransfer, state: str
) -> tuple[AppTransfer, App]:
    """The recipient accepts (the app is theirs at once) or declines a pending transfer."""
    if caller.id != transfer.recipient_id:
        raise Forbidden("Only the recipient of this transfer can accept or decline it.")
    if transfer.state != PENDING:
        raise InvalidParams(f"This transfer has already been {transfer.state}.")
    if state not in DECIDED:
        raise InvalidParams("Set `state` to accepted or declined.")
    claimed: Any = await db.execute(
        update(AppTransfer)
        .where(AppTransfer.id == transfer.id, AppTransfer.state == PENDING)
        .values(state=state, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    if claimed.rowcount != 1:
        raise await _settled(db, transfer.id)
    if state == "accepted":
        app = await _locked_app(db, transfer.app_id)
        await _move(db, app, transfer)
    else:
        found = await db.get(App, transfer.app_id)
        assert found is not None
        app = found
    return transfer, app


async def _locked_app(db: AsyncSession, app_id: uuid.UUID) -> App:
    stmt = (
        select(App)
        .where(App.id == app_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    app: App = (await db.execute(stmt)).scalar_one()
    return app


async def _move(db: AsyncSession, app: App, transfer: AppTransfer) -> None:
    """The app becomes the recipient's; the old owner stays on it as a collaborator."""
    if app.organization_id is not None or app.owner_id != transfer.owner_id:
        raise InvalidParams(
            f"{app.name} no longer belongs to the account that offered it: this transfer "
            "can only be declined."
        )
    rows = (
        (await db.execute(select(Collaborator).where(Collaborator.app_id == app.id)))
        .scalars()
        .all()
    )
    held = {row.account_id: row for row in rows}
    for row in rows:
        if row.role == "owner" and row.account_id != transfer.recipient_id:
            row.role = "collaborator"
            row.permissions = []
    if transfer.owner_id not in held:
        db.add(Collaborator(app_id=app.id, account_id=transfer.owner_id, role="collaborator"))
    mine = held.get(transfer.recipient_id)
    if mine is None:
        db.add(Collaborator(app_id=app.id, account_id=transfer.recipient_id, role="owner"))
    else:
        mine.role = "owner"
        mine.permissions = []
    app.owner_id = transfer.recipient_id
    await db.flush()


async def cancel(db: AsyncSession, caller: Account, transfer: AppTransfer) -> None:
    """The sender withdraws a transfer not accepted (pending, or declined: then it only
    leaves the lists)."""
    if caller.id != transfer.owner_id:
        raise Forbidden(
            "Only the sender of this transfer can cancel it; its recipient declines it "
            "(PATCH with `state` set to declined)."
        )
    if transfer.state == "accepted":
        raise InvalidParams("This transfer has already been accepted.")
    removed: Any = await db.execute(
        delete(AppTransfer)
        .where(AppTransfer.id == transfer.id, AppTransfer.state != "accepted")
        .execution_options(synchronize_session=False)
    )
    if removed.rowcount != 1:
        raise await _settled(db, transfer.id)


async def render(db: AsyncSession, transfers: Sequence[AppTransfer]) -> list[AppTransferOut]:
    """Bodies for a page of transfers: one query for the apps, one for the accounts."""
    app_ids = {t.app_id for t in transfers}
    account_ids = {t.owner_id for t in transfers} | {t.recipient_id for t in transfers}
    apps: dict[uuid.UUID, Ref] = {}
    accounts: dict[uuid.UUID, AccountRef] = {}
    if app_ids:
        rows = await db.execute(select(App.id, App.name).where(App.id.in_(app_ids)))
        apps.update((row[0], Ref(id=row[0], name=row[1])) for row in rows)
        rows = await db.execute(
            select(Account.id, Account.email).where(Account.id.in_(account_ids))
        )
        accounts.update((row[0], AccountRef(email=row[1], id=row[0])) for row in rows)
    return [
        AppTransferOut.of(t, apps[t.app_id], accounts[t.owner_id], accounts[t.recipient_id])
        for t in transfers
    ]


async def render_one(db: AsyncSession, transfer: AppTransfer) -> AppTransferOut:
    return (await render(db, [transfer]))[0]
