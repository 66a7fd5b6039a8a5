"""Two-factor authentication on an account: its OTP secret, turning it on and off.

A new secret waits unconfirmed (and replaces any other unconfirmed one) until
`PATCH /account {"two_factor_authentication": true, "password"}` comes with a code made
from it in `Heroku-Two-Factor-Code`: then it replaces the confirmed one and two-factor is
on. Turning it off takes the password and the second factor, and drops the secrets, the
recovery codes and the SMS recovery codes (`tenku.resources.account.service`).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.db.base import new_id
from tenku.db.models import Account, OtpSecret, RecoveryCode, SmsCode
from tenku.storage.sealing import Sealer
from tenku.web.confirm import confirm_new_secret
from tenku.web.deps import app_context
from tenku.web.errors import InvalidParams
from tenku.web.login import new_seed, provisioning_url, seal_seed


async def create(db: AsyncSession, sealer: Sealer, account: Account) -> tuple[OtpSecret, str]:
    """A new unconfirmed secret: (row, its provisioning URL, which shows the seed)."""
    await db.execute(
        delete(OtpSecret).where(
            OtpSecret.account_id == account.id, OtpSecret.confirmed_at.is_(None)
        )
    )
    seed = new_seed()
    secret_id = new_id()
    secret = OtpSecret(id=secret_id, account_id=account.id, seed=seal_seed(sealer, secret_id, seed))
    db.add(secret)
    await db.flush()
    return secret, provisioning_url(account.email, seed)


async def _unconfirmed(db: AsyncSession, account: Account) -> OtpSecret | None:
    stmt = select(OtpSecret).where(
        OtpSecret.account_id == account.id, OtpSecret.confirmed_at.is_(None)
    )
    return (await db.execute(stmt.order_by(OtpSecret.created_at.desc()).limit(1))).scalar()


async def turn_on(request: Request, db: AsyncSession, account: Account) -> bool:
    """Confirm the newest unconfirmed secret with the request's code (the password is
    already checked): whether there was one (with none, two-factor stays on if it was)."""
    secret = await _unconfirmed(db, account)
    if secret is None:
        if account.two_factor_authentication:
            return False
        raise InvalidParams(
            "Create an OTP secret first (POST /account/otp-secret), add it to an "
            "authenticator app, then send a code from it in the Heroku-Two-Factor-Code header."
        )
    await confirm_new_secret(request, db, secret)
    await db.execute(
        delete(OtpSecret).where(OtpSecret.account_id == account.id, OtpSecret.id != secret.id)
    )
    secret.confirmed_at = app_context(request).clock()
    account.two_factor_authentication = True
    await db.flush()
    return True


async def turn_off(db: AsyncSession, account: Account) -> None:
    """Drop the account's second factors (the caller has confirmed the current one)."""
    for model in (OtpSecret, RecoveryCode):
        await db.execute(delete(model).where(model.account_id == account.id))
    await db.execute(
        delete(SmsCode).where(SmsCode.account_id == account.id, SmsCode.purpose == "recover")
    )
    account.two_factor_authentication = False
    await db.flush()
