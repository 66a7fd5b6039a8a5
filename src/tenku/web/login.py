"""Signing in with a password, and the second factor that may follow it.

`password_login` is the one way an email and password become an account: every password
login (HTTP Basic on `POST /oauth/authorizations`, and any later login page) goes through
it, so its lock-outs and its second-factor check cannot be walked around. With two-factor
on, a correct password alone answers 403 `two_factor` until a code comes in the
`Heroku-Two-Factor-Code` header: a TOTP code (RFC 6238, 30 s steps, one step of drift
either way, each step good once), one of the account's recovery codes, or a code sent by
SMS. Five wrong codes lock the second factor for 15 minutes (tenku/web/throttle.py).
"""

from __future__ import annotations

import hmac
import re
import uuid
from datetime import datetime
from urllib.parse import quote

import pyotp
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, OtpSecret, RecoveryCode, SmsCode
from tenku.security import DUMMY_HASH, verify_password_async
from tenku.storage.sealing import Sealer
from tenku.web import throttle
from tenku.web.context import AppContext
from tenku.web.errors import (
    InvalidTwoFactorCode,
    TooManyAttempts,
    TwoFactorRequired,
    Unauthorized,
)
from tenku.web.throttle import Hit, LockedOut

CODE_HEADER = "Heroku-Two-Factor-Code"
ISSUER = "Tenku"
TOTP_DIGITS = 6
TOTP_INTERVAL = 30
TOTP_DRIFT = 1
# Recovery codes: 64 random bits as 16 hex digits. SMS codes: 8 digits, so that neither
# is ever mistaken for a TOTP code.
RECOVERY_CODE_LENGTH = 16
SMS_CODE_DIGITS = 8
_SEPARATORS = re.compile(r"[\s-]+")


def new_seed() -> str:
    """160 random bits in base32, as authenticator apps take them."""
    return pyotp.random_base32()


def provisioning_url(email: str, seed: str) -> str:
    return f"otpauth://totp/{quote(email, safe='@')}?issuer={ISSUER}&secret={seed}"


def seal_seed(sealer: Sealer, secret_id: uuid.UUID, seed: str) -> str:
    return sealer.seal(seed, secret_id.bytes)


def normalize_code(code: str) -> str:
    return _SEPARATORS.sub("", code).lower()


def totp_step(seed: str, code: str, now: datetime, after: int | None) -> int | None:
    """The time-step near `now` whose code `code` is, if it is later than `after`."""
    totp = pyotp.TOTP(seed, digits=TOTP_DIGITS, interval=TOTP_INTERVAL)
    current = totp.timecode(now)
    for step in range(current - TOTP_DRIFT, current + TOTP_DRIFT + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def use_totp(
    db: AsyncSession, sealer: Sealer, secret: OtpSecret, code: str, now: datetime
) -> bool:
    """Whether `code` is good for `secret` now; if so, its step is used up."""
    code = normalize_code(code)
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return False
    try:
        seed = sealer.unseal(secret.seed, secret.id.bytes)
    except ValueError:
        # Sealed under another installation key: no code can match it.
        return False
    step = totp_step(seed, code, now, secret.last_used_step)
    if step is None:
        return False
    # Two requests with one code: only the first moves the step on.
    used = await db.execute(
        update(OtpSecret)
        .where(
            OtpSecret.id == secret.id,
            or_(OtpSecret.last_used_step.is_(None), OtpSecret.last_used_step < step),
        )
        .values(last_used_step=step)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        return False
    secret.last_used_step = step
    return True


async def confirmed_secret(db: AsyncSession, account_id: uuid.UUID) -> OtpSecret | None:
    stmt = select(OtpSecret).where(
        OtpSecret.account_id == account_id, OtpSecret.confirmed_at.is_not(None)
    )
    return (await db.execute(stmt.order_by(OtpSecret.confirmed_at.desc()).limit(1))).scalar()


async def use_second_factor(
    db: AsyncSession, sealer: Sealer, account_id: uuid.UUID, code: str, now: datetime
) -> bool:
    """Whether `code` is a good second factor for the account; if so, it is used up."""
    code = normalize_code(code)
    if len(code) == TOTP_DIGITS and code.isdigit():
        secret = await confirmed_secret(db, account_id)
        return secret is not None and await use_totp(db, sealer, secret, code, now)
    if len(code) == SMS_CODE_DIGITS and code.isdigit():
        used = await db.execute(
            delete(SmsCode)
            .where(
                SmsCode.account_id == account_id,
                SmsCode.purpose == "recover",
                SmsCode.code_digest == sealer.digest("sms-recover", code),
                SmsCode.expires_at > now,
            )
            .execution_options(synchronize_session=False)
        )
        return getattr(used, "rowcount", 0) == 1
    if len(code) == RECOVERY_CODE_LENGTH and all(c in "0123456789abcdef" for c in code):
        used = await db.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.account_id == account_id,
                RecoveryCode.code_digest == sealer.digest("recovery-code", code),
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return getattr(used, "rowcount", 0) == 1
    return False


def password_hits(email: str, client: str) -> list[Hit]:
    return [
        (throttle.PASSWORD_ACCOUNT, email.strip().lower()),
        (throttle.PASSWORD_CLIENT, client),
    ]


def second_factor_hits(account_id: uuid.UUID, client: str) -> list[Hit]:
    return [
        (throttle.SECOND_FACTOR_ACCOUNT, str(account_id)),
        (throttle.SECOND_FACTOR_CLIENT, client),
    ]


def locked_out(lock: LockedOut) -> TooManyAttempts:
    return TooManyAttempts(lock.seconds, lock.policy.what)


async def password_login(
    ctx: AppContext,
    client: str,
    email: str,
    password: str,
    code: str | None,
    *,
    second_factor: bool = True,
) -> Account:
    """The account these credentials sign in to, or the error to answer.

    `client` is the caller's address; `code` the `Heroku-Two-Factor-Code` header. Only
    a step that itself yields a second factor (sending an SMS recovery code) passes
    `second_factor=False`. Runs in short transactions of its own, before the request's.
    """
    lock = await ctx.throttle.locked(password_hits(email, client))
    if lock is not None:
        raise locked_out(lock)
    async with ctx.db.session(write=False) as db, db.begin():
        account = (
            await db.execute(select(Account).where(Account.email == email.strip().lower()))
        ).scalar_one_or_none()
    # Unknown emails cost a hash check too, so timing does not reveal accounts; and the
    # slow check runs outside any transaction.
    stored = account.password_hash if account is not None else DUMMY_HASH
    if not await verify_password_async(stored, password) or account is None:
        await ctx.throttle.fail(password_hits(email, client))
        raise Unauthorized()
    if second_factor and account.two_factor_authentication:
        await check_second_factor(ctx, account.id, client, code)
    # Not the client's count: one good account must not wipe its guesses at others.
    await ctx.throttle.clear(password_hits(email, client)[:1])
    return account


async def check_second_factor(
    ctx: AppContext, account_id: uuid.UUID, client: str, code: str | None
) -> None:
    """Use up `code` as the account's second factor, in a transaction of its own."""
    hits = second_factor_hits(account_id, client)
    lock = await ctx.throttle.locked(hits)
    if lock is not None:
        raise locked_out(lock)
    if not code:
        raise TwoFactorRequired()
    async with ctx.db.session(write=True) as db, db.begin():
        good = await use_second_factor(db, ctx.sealer, account_id, code, ctx.clock())
    if not good:
        await ctx.throttle.fail(hits)
        raise InvalidTwoFactorCode()
    await ctx.throttle.clear(hits[:1])
