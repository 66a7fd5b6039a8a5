from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from starlette.requests import Request

from tenku.db.base import new_id
from tenku.db.models import Account, App, Team, TeamMember
from tenku.ids import as_uuid
from tenku.resources.account.schemas import AccountUpdate
from tenku.resources.app.access import ADMIN_ROLES
from tenku.resources.otp_secret import service as otp_secret
from tenku.resources.sms_number import service as sms_number
from tenku.security import hash_password_async
from tenku.web.confirm import confirm_password, confirm_second_factor
from tenku.web.errors import InvalidParams, NotFound


def normalize_email(email: str) -> str:
    return email.strip().lower()


async def find_account(db: AsyncSession, ident: str) -> Account | None:
    uid = as_uuid(ident)
    if uid is not None:
        return await db.get(Account, uid)
    email = normalize_email(ident)
    return (await db.execute(select(Account).where(Account.email == email))).scalar_one_or_none()


async def resolve_self(db: AsyncSession, caller: Account, ident: str) -> Account:
    """`{account_email_or_id_or_self}`: only the caller's own account is visible."""
    if ident == "~":
        return caller
    found = await find_account(db, ident)
    if found is None or found.id != caller.id:
        raise NotFound("user")
    return caller


async def create_account(
    db: AsyncSession,
    email: str,
    password: str | None,
    name: str | None = None,
    *,
    account_id: uuid.UUID | None = None,
) -> Account:
    """A new account; `account_id` when its id was promised before (an invitation's)."""
    email = normalize_email(email)
    if await find_account(db, email) is not None:
        raise InvalidParams(f"The email {email} is already taken.")
    account = Account(
        id=account_id or new_id(),
        email=email,
        name=name,
        password_hash=await hash_password_async(password) if password else None,
        preferences={},
    )
    db.add(account)
    await db.flush()
    return account


async def update_account(
    request: Request, db: AsyncSession, account: Account, changes: AccountUpdate
) -> Account:
    new_number = "sms_number" in changes.model_fields_set
    turning = changes.two_factor_authentication
    sensitive = (
        changes.email is not None
        or changes.new_password is not None
        or turning is not None
        or new_number
    )
    if sensitive or changes.password is not None:
        await confirm_password(request, account, changes.password)
    # Turning two-factor off, or a new SMS number, would let a stolen token and password
    # get past the second factor: they take it too. A code from a new OTP secret that
    # turns two-factor on is as good (the secret itself took the second factor).
    needs_factor = turning is False or new_number
    if turning is True and await otp_secret.turn_on(request, db, account):
        needs_factor = False
    if needs_factor:
        await confirm_second_factor(request, db, account)
    if turning is False:
        await otp_secret.turn_off(db, account)
    if new_number:
        await sms_number.change(request, db, account, changes.sms_number)
    if changes.email is not None:
        email = normalize_email(str(changes.email))
        other = await find_account(db, email)
        if other is not None and other.id != account.id:
            raise InvalidParams(f"The email {email} is already taken.")
        account.email = email
    if changes.new_password is not None:
        account.password_hash = await hash_password_async(changes.new_password)
    if changes.allow_tracking is not None:
        account.allow_tracking = changes.allow_tracking
    if changes.beta is not None:
        account.beta = changes.beta
    if "name" in changes.model_fields_set:
        account.name = changes.name
    await db.flush()
    return account


async def owned_apps(db: AsyncSession, account: Account) -> list[App]:
    return list((await db.execute(select(App).where(App.owner_id == account.id))).scalars())


async def refuse_if_last_admin(db: AsyncSession, account: Account) -> None:
    """A team must keep an admin: its only admin cannot delete their account."""
    others = aliased(TeamMember)
    another_admin = (
        select(others.id)
        .where(
            others.team_id == TeamMember.team_id,
            others.account_id != account.id,
            others.role.in_(ADMIN_ROLES),
        )
        .exists()
    )
    names = (
        (
            await db.execute(
                select(Team.name)
                .join(TeamMember, TeamMember.team_id == Team.id)
                .where(
                    TeamMember.account_id == account.id,
                    TeamMember.role.in_(ADMIN_ROLES),
                    ~another_admin,
                )
                .order_by(Team.name)
            )
        )
        .scalars()
        .all()
    )
    if names:
        listed = ", ".join(names)
        raise InvalidParams(
            f"{account.email} is the only admin of {listed}: make someone else an admin, or "
            "delete the team, before deleting this account."
        )


async def delete_account(db: AsyncSession, account: Account) -> None:
    # Owned apps go with the account; apps it only collaborates on stay.
    await db.execute(delete(App).where(App.owner_id == account.id))
    await db.delete(account)
    await db.flush()


async def count_accounts(db: AsyncSession) -> int:
    return int((await db.execute(select(func.count()).select_from(Account))).scalar_one())
