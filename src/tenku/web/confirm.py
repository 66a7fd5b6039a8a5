"""Asking again inside a request: the current password, the second factor.

Changes that would let a stolen token take the account over ask for the password
(turning two-factor on or off, new recovery codes, a new SMS number) and, while two-factor
is on, for the second factor (those, and a new OTP secret). Wrong answers count towards the
same lock-outs as logins (tenku/web/throttle.py), written after the request's transaction
is rolled back.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.db.models import Account, OtpSecret
from tenku.security import verify_password_async
from tenku.web.deps import after_rollback, app_context, client_address
from tenku.web.errors import Forbidden, InvalidParams, InvalidTwoFactorCode, TwoFactorRequired
from tenku.web.login import (
    CODE_HEADER,
    locked_out,
    password_hits,
    second_factor_hits,
    use_second_factor,
    use_totp,
)
from tenku.web.throttle import Hit


def _count_failure(request: Request, hits: list[Hit]) -> None:
    throttle = app_context(request).throttle

    async def count() -> None:
        await throttle.fail(hits)

    after_rollback(request, count)


async def confirm_password(request: Request, account: Account, password: str | None) -> None:
    if password is None:
        raise InvalidParams("Invalid password provided: the current password is required.")
    ctx = app_context(request)
    hits = password_hits(account.email, client_address(request))
    lock = await ctx.throttle.locked(hits)
    if lock is not None:
        raise locked_out(lock)
    if not await verify_password_async(account.password_hash, password):
        _count_failure(request, hits)
        raise Forbidden("Current password is incorrect.")


async def _code(request: Request, hits: list[Hit]) -> str:
    lock = await app_context(request).throttle.locked(hits)
    if lock is not None:
        raise locked_out(lock)
    code = request.headers.get(CODE_HEADER)
    if not code:
        raise TwoFactorRequired()
    return code


async def confirm_second_factor(request: Request, db: AsyncSession, account: Account) -> None:
    """With two-factor on, the request must carry a good second factor (used up here)."""
    if not account.two_factor_authentication:
        return
    ctx = app_context(request)
    hits = second_factor_hits(account.id, client_address(request))
    code = await _code(request, hits)
    if not await use_second_factor(db, ctx.sealer, account.id, code, ctx.clock()):
        _count_failure(request, hits)
        raise InvalidTwoFactorCode()


async def confirm_new_secret(request: Request, db: AsyncSession, secret: OtpSecret) -> None:
    """The request carries a code made from `secret`: the authenticator app has it."""
    ctx = app_context(request)
    hits = second_factor_hits(secret.account_id, client_address(request))
    code = await _code(request, hits)
    if not await use_totp(db, ctx.sealer, secret, code, ctx.clock()):
        _count_failure(request, hits)
        raise InvalidTwoFactorCode()
