"""Password resets: a token mailed to the account's address, good once, for an hour.

Asking answers the same whether or not an account has that email (the `user.id` in the
answer is derived from the email, never the account's); the mail goes once the request
commits. Finishing sets the new password and revokes every authorization the account
has, except that the default API key is replaced by a new secret instead, so whoever held
a token or the old password is out at once. A second factor stays required to log in.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from tenku.db.models import Account, Authorization, PasswordReset
from tenku.resources.account.service import normalize_email
from tenku.resources.common import AccountRef
from tenku.resources.oauth_authorization.tokens import rotate_tokens
from tenku.security import hash_password_async, token_digest
from tenku.web import throttle
from tenku.web.deps import after_commit, after_rollback, app_context, client_address
from tenku.web.errors import NotFound
from tenku.web.login import locked_out, password_hits
from tenku.web.throttle import Hit

log = logging.getLogger("tenku.api")
LIFETIME = timedelta(hours=1)
TOKEN_PREFIX = "tkr_"
V3 = "application/vnd.heroku+json; version=3"


def client_hits(request: Request) -> list[Hit]:
    return [(throttle.RESET_CLIENT, client_address(request))]


async def _not_locked(request: Request) -> None:
    lock = await app_context(request).throttle.locked(client_hits(request))
    if lock is not None:
        raise locked_out(lock)


def _mail(api_url: str, email: str, token: str) -> tuple[str, str]:
    subject = "Reset your Tenku password"
    body = f"""Someone, hopefully you, asked to reset the password of the Tenku account {email}.

To choose a new password, within the hour:

  curl -X POST {api_url}/password-resets/{token}/actions/finalize \\
    -H 'Accept: {V3}' -H 'Content-Type: application/json' \\
    -d '{{"password": "NEW PASSWORD", "password_confirmation": "NEW PASSWORD"}}'

Every session and token of the account stops working then; log in again with the new
password (and your second factor, if two-factor authentication is on).

If you did not ask for this, ignore this message: your password stays as it is.
"""
    return subject, body


async def request_reset(request: Request, db: AsyncSession, email: str) -> AccountRef:
    """Mail a reset token if an account has this email; the answer is the same either way."""
    await _not_locked(request)
    ctx = app_context(request)
    email = normalize_email(email)
    now = ctx.clock()
    account = (await db.execute(select(Account).where(Account.email == email))).scalar_one_or_none()
    account_hits = [(throttle.RESET_ACCOUNT, email)]
    # Past its hourly allowance an account gets no more mail, and the caller is not told.
    # (Looked up for every email alike.)
    allowed = await ctx.throttle.locked(account_hits) is None
    if account is not None and allowed:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        await db.execute(
            delete(PasswordReset).where(
                PasswordReset.account_id == account.id,
                or_(PasswordReset.expires_at <= now, PasswordReset.used_at.is_not(None)),
            )
        )
        db.add(
            PasswordReset(
                account_id=account.id, token_hash=token_digest(token), expires_at=now + LIFETIME
            )
        )
        await db.flush()
        subject, body = _mail(ctx.settings.public_api_url, email, token)
        to = account.email

        async def send() -> None:
            await ctx.throttle.fail(account_hits)
            try:
                await ctx.mailer.send(to, subject, body)
            except Exception:
                # Logged, not answered: an error only known accounts get would tell.
                log.exception("password reset mail to an account was not sent")

        after_commit(request, send)

    async def count() -> None:
        await ctx.throttle.fail(client_hits(request))

    after_commit(request, count)
    return AccountRef(email=email, id=_pseudonym(ctx.sealer.digest("password-reset", email)))


def _pseudonym(digest: str) -> uuid.UUID:
    return uuid.UUID(hex=digest[:32], version=4)


async def finalize(
    request: Request, db: AsyncSession, token: str, password: str
) -> tuple[datetime, Account]:
    """Set the new password: (when the reset was asked for, the account)."""
    await _not_locked(request)
    ctx = app_context(request)
    now = ctx.clock()
    reset = (
        await db.execute(
            select(PasswordReset).where(
                PasswordReset.token_hash == token_digest(token),
                PasswordReset.used_at.is_(None),
                PasswordReset.expires_at > now,
            )
        )
    ).scalar_one_or_none()
    account = await db.get(Account, reset.account_id) if reset is not None else None
    if reset is None or account is None:
        hits = client_hits(request)

        async def count() -> None:
            await ctx.throttle.fail(hits)

        after_rollback(request, count)
        raise NotFound(
            "password_reset", "Couldn't find that password reset; it may have expired or been used."
        )
    reset.used_at = now
    await db.execute(
        delete(PasswordReset).where(
            PasswordReset.account_id == account.id, PasswordReset.id != reset.id
        )
    )
    account.password_hash = await hash_password_async(password)
    await revoke_authorizations(db, account)
    await db.flush()
    created = reset.created_at
    email = account.email

    async def unlock() -> None:
        # The owner proved they hold the mailbox, and guesses at the old password are moot.
        await ctx.throttle.clear(password_hits(email, client_address(request))[:1], lift=True)

    after_commit(request, unlock)
    return created, account


async def revoke_authorizations(db: AsyncSession, account: Account) -> None:
    """Every token of the account stops working (the default API key gets a new secret)."""
    await db.execute(
        delete(Authorization).where(
            Authorization.account_id == account.id, Authorization.is_api_key.is_(False)
        )
    )
    keys = await db.execute(
        select(Authorization).where(
            Authorization.account_id == account.id, Authorization.is_api_key.is_(True)
        )
    )
    for key in keys.scalars():
        rotate_tokens(key)
