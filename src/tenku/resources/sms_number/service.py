"""An account's SMS number: set through `PATCH /account` (`sms_number`), confirmed with the
code sent to it, then used to receive recovery codes that stand in for a TOTP code once."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.db.models import Account, SmsCode
from tenku.sms import SmsError
from tenku.web import throttle
from tenku.web.deps import after_commit, after_rollback, app_context, client_address
from tenku.web.errors import InvalidParams, ServiceUnavailable
from tenku.web.login import SMS_CODE_DIGITS, locked_out, normalize_code, second_factor_hits

CODE_LIFETIME = timedelta(minutes=10)
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_PUNCTUATION = re.compile(r"[\s().-]+")


def normalize_number(raw: str) -> str:
    number = _PUNCTUATION.sub("", raw)
    if number.startswith("00"):
        number = "+" + number[2:]
    if not _E164.match(number):
        raise InvalidParams(
            "Invalid sms_number provided: give it in international form, e.g. +1 555 123 4567."
        )
    return number


def mask(number: str | None) -> str | None:
    """All but the last four digits hidden, as Heroku shows it: `+1 ***-***-1234`."""
    if number is None:
        return None
    digits = number.lstrip("+")
    if digits.startswith("1") and len(digits) == 11:
        return f"+1 ***-***-{digits[-4:]}"
    return "+" + "*" * (len(digits) - 4) + digits[-4:]


def _new_code() -> str:
    return f"{secrets.randbelow(10**SMS_CODE_DIGITS):0{SMS_CODE_DIGITS}d}"


async def _send_code(
    request: Request, db: AsyncSession, account: Account, purpose: str, number: str, text: str
) -> None:
    """Replace the account's `purpose` code with a new one, texted once the request commits."""
    ctx = app_context(request)
    sms_hits = [(throttle.SMS_ACCOUNT, str(account.id))]
    lock = await ctx.throttle.locked(sms_hits)
    if lock is not None:
        raise locked_out(lock)
    code = _new_code()
    await db.execute(
        delete(SmsCode).where(SmsCode.account_id == account.id, SmsCode.purpose == purpose)
    )
    db.add(
        SmsCode(
            account_id=account.id,
            purpose=purpose,
            number=number,
            code_digest=ctx.sealer.digest(f"sms-{purpose}", code),
            expires_at=ctx.clock() + CODE_LIFETIME,
        )
    )
    await db.flush()

    async def send() -> None:
        await ctx.throttle.fail(sms_hits)
        try:
            await ctx.sms.send(number, text.format(code=code))
        except SmsError as exc:
            raise ServiceUnavailable(f"The text message could not be sent ({exc}).") from exc

    after_commit(request, send)


async def change(request: Request, db: AsyncSession, account: Account, raw: str | None) -> None:
    """Remove the number (None), or text a confirmation code to a new one; the account's
    number changes only once that code comes back (`confirm`)."""
    if raw is None:
        account.sms_number = None
        await db.execute(delete(SmsCode).where(SmsCode.account_id == account.id))
        return
    number = normalize_number(raw)
    await _send_code(
        request,
        db,
        account,
        "confirm",
        number,
        "Tenku: {code} is the code that confirms this number for your account.",
    )


async def confirm(request: Request, db: AsyncSession, account: Account, code: str) -> None:
    ctx = app_context(request)
    hits = second_factor_hits(account.id, client_address(request))
    lock = await ctx.throttle.locked(hits)
    if lock is not None:
        raise locked_out(lock)
    pending = (
        await db.execute(
            select(SmsCode)
            .where(
                SmsCode.account_id == account.id,
                SmsCode.purpose == "confirm",
                SmsCode.expires_at > ctx.clock(),
            )
            .order_by(SmsCode.created_at.desc())
            .limit(1)
        )
    ).scalar()
    if pending is None:
        raise InvalidParams("There is no SMS number change to confirm (or its code expired).")
    given = ctx.sealer.digest("sms-confirm", normalize_code(code))
    if not hmac.compare_digest(pending.code_digest, given):

        async def count() -> None:
            await ctx.throttle.fail(hits)

        after_rollback(request, count)
        raise InvalidParams("Invalid code provided.")
    account.sms_number = pending.number
    await db.delete(pending)
    await db.flush()


async def recover(request: Request, db: AsyncSession, account: Account) -> None:
    """Text a recovery code to the account's confirmed number."""
    if not account.two_factor_authentication:
        raise InvalidParams("Two-factor authentication is not enabled on this account.")
    if account.sms_number is None:
        raise InvalidParams("This account has no confirmed SMS number.")
    await _send_code(
        request,
        db,
        account,
        "recover",
        account.sms_number,
        "Tenku: {code} is your recovery code. It signs you in once, within 10 minutes.",
    )
