"""`/oauth/authorize`: where a user approves an OAuth client (the authorization-code flow).

A plain server-rendered page: the client's name and the scopes it asks for, the user's
email and password, Allow or Deny. Allow sends the browser to the client's redirect URI
with a single-use `code` (and the `state` it sent); Deny with `error=access_denied`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.oauth_grant import page
from tenku.resources.oauth_grant.service import (
    FIELDS,
    Asked,
    PageError,
    approve,
    read,
    single_values,
)
from tenku.storage.signing import Signer
from tenku.web.deps import Context, Db, TransactionRoute, page_login
from tenku.web.docs import answers, merged
from tenku.web.errors import InvalidTwoFactorCode, RateLimited, TwoFactorRequired

router = APIRouter(route_class=TransactionRoute)
# Enough for the form's fields many times over.
MAX_FORM = 16 * 1024
HTML = "text/html"

QUERY = {
    "parameters": [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": {"type": "string"},
        }
        for name, description in [
            ("client_id", "the OAuth client's id"),
            ("response_type", "`code`"),
            ("scope", "scopes, separated by spaces or commas (default `identity`)"),
            ("state", "returned to the client as given"),
            ("redirect_uri", "the client's redirect URI, exactly, if given"),
        ]
    ]
}
FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        name: {"type": "string"}
                        for name in (
                            *FIELDS,
                            "csrf_token",
                            "decision",
                            "email",
                            "password",
                            "code",
                        )
                    },
                }
            }
        },
    }
}
REDIRECTED = answers("To the client's redirect URI, with `code` or `error`.", status=303)
REFUSED = answers("The request names no valid client or redirect URI.", HTML, status=400)


def _form(request: Request, signer: Signer, asked: Asked, status: int, **extra: Any) -> Response:
    return page.render(
        request,
        signer,
        status,
        client=asked.client,
        scopes=asked.described_scopes(),
        hidden=asked.hidden(),
        redirect_origin=asked.redirect_origin(),
        **extra,
    )


async def _asked(db: AsyncSession, values: dict[str, str]) -> Asked | Response:
    """The request, or the answer it gets at once: a refusal or the client's error."""
    try:
        asked = await read(db, values)
    except PageError as exc:
        return page.render_error(exc)
    problem = asked.problem()
    if problem is not None:
        error, description = problem
        return page.redirect(asked.back(error=error, error_description=description))
    return asked


@router.get(
    "/oauth/authorize",
    summary="Authorize",
    openapi_extra=merged(QUERY, answers("The approval page.", HTML), REDIRECTED, REFUSED),
)
async def authorize_page(request: Request, db: Db, ctx: Context) -> Response:
    """The page where a user approves or denies an OAuth client (no credentials needed)."""
    try:
        values = single_values(request.query_params.multi_items())
    except PageError as exc:
        return page.render_error(exc)
    asked = await _asked(db, values)
    if isinstance(asked, Response):
        return asked
    return _form(request, ctx.signer, asked, 200)


@router.post(
    "/oauth/authorize",
    summary="Decide",
    openapi_extra=merged(
        FORM,
        REDIRECTED,
        REFUSED,
        answers("Wrong email or password: the page again.", HTML, status=401),
        answers(
            "The form did not come from this page, or the account is suspended.", HTML, status=403
        ),
        answers("Too many attempts: the page again.", HTML, status=429),
    ),
)
async def authorize_decision(request: Request, db: Db, ctx: Context) -> Response:
    """The approval page's form: Allow (with the user's email and password) or Deny."""
    raw = await request.body()
    try:
        if len(raw) > MAX_FORM:
            raise PageError("The form is too large.")
        try:
            pairs = parse_qsl(
                raw.decode("utf-8"), keep_blank_values=True, max_num_fields=len(FIELDS) + 8
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise PageError("The form could not be read.") from exc
        values = single_values(pairs)
    except PageError as exc:
        return page.render_error(exc)
    decision = values.get("decision", "")
    email, password = values.get("email", "").strip(), values.get("password", "")
    # Nothing is decided without this page's own token: another site's form cannot log
    # a visitor in (as its author) nor approve anything.
    if not page.csrf_ok(ctx.signer, request, values.get("csrf_token", "")):
        asked = await _asked(db, values)
        if isinstance(asked, Response):
            return asked
        return _form(
            request,
            ctx.signer,
            asked,
            403,
            error="This form expired or did not come from this page. Please try again.",
            email=email,
        )
    if decision not in ("approve", "deny"):
        return page.render_error(PageError("Choose Allow or Deny."))
    principal = None
    limited = False
    second_factor: str | None = None
    if decision == "approve" and email and password:
        # Checked before the request's transaction starts: the slow hash holds no lock.
        try:
            code = values.get("code", "").strip() or None
            principal = await page_login(request, email, password, code)
        except RateLimited:
            limited = True
        except TwoFactorRequired:
            second_factor = "Enter the code from your authenticator app, or a recovery code."
        except InvalidTwoFactorCode:
            second_factor = "Invalid two-factor code."
    asked = await _asked(db, values)
    if isinstance(asked, Response):
        return asked
    if decision == "deny":
        return page.redirect(
            asked.back(error="access_denied", error_description="The user denied access.")
        )
    if limited:
        return _form(
            request, ctx.signer, asked, 429, error="Too many attempts; wait a while.", email=email
        )
    if second_factor is not None:
        return _form(request, ctx.signer, asked, 401, error=second_factor, email=email)
    if principal is None:
        message = (
            "Invalid email or password."
            if email and password
            else ("Enter your email and password.")
        )
        return _form(request, ctx.signer, asked, 401, error=message, email=email)
    account = await db.merge(principal.account, load=False)
    if account.suspended_at is not None:
        return _form(
            request, ctx.signer, asked, 403, error="This account is suspended.", email=email
        )
    code = await approve(db, account, asked)
    return page.redirect(asked.back(code=code))
