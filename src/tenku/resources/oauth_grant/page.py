"""The approval page as HTML: one template, a signed double-submit CSRF token, and the
headers that keep the page out of frames, caches and other origins' scripts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from tenku.resources.oauth_grant.service import PageError
from tenku.storage.signing import Signer

TEMPLATES = Path(__file__).parent / "templates"
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)
_STYLE = (TEMPLATES / "authorize.css").read_text()
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()

COOKIE = "tenku_oauth_csrf"
# The page may sit open a while before its user decides.
CSRF_TTL = 1800
_PURPOSE = "OAUTH-AUTHORIZE"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def csrf_token(signer: Signer, request: Request) -> tuple[str, str]:
    """(cookie nonce, form token): the form's token is the nonce signed with the
    installation's secret, so a page another site makes can hold neither."""
    nonce = request.cookies.get(COOKIE, "")
    if not _NONCE.match(nonce):
        nonce = secrets.token_urlsafe(32)
    return nonce, signer.sign(nonce, _PURPOSE, CSRF_TTL)


def csrf_ok(signer: Signer, request: Request, token: str) -> bool:
    nonce = request.cookies.get(COOKIE)
    signed = signer.verify(token, _PURPOSE) if token else None
    return nonce is not None and signed is not None and hmac.compare_digest(nonce, signed)


def _headers(form_target: str | None) -> dict[str, str]:
    form_action = f"'self' {form_target}" if form_target else "'none'"
    return {
        "Cache-Control": "no-store",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; "
            # The browser follows the form's redirect to the client: its origin is allowed.
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def render(request: Request, signer: Signer, status: int, **context: Any) -> Response:
    """The page with its form, for `context` (the client, its scopes, the request's
    fields, an error), with a fresh CSRF token and its cookie."""
    nonce, token = csrf_token(signer, request)
    fields: dict[str, Any] = {"error": None, "email": "", **context}
    html = _env.get_template("authorize.html").render(
        style=Markup(_STYLE), csrf_token=token, **fields
    )
    response = HTMLResponse(html, status, headers=_headers(context["redirect_origin"]))
    response.set_cookie(
        COOKIE,
        nonce,
        max_age=CSRF_TTL,
        path="/oauth/authorize",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def redirect(url: str) -> Response:
    # 303: the browser follows a form's POST with a GET.
    return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})


def render_error(exc: PageError) -> Response:
    """A request refused on the page itself: the reason, and no form."""
    html = _env.get_template("authorize.html").render(
        client=None, error=exc.message, style=Markup(_STYLE)
    )
    return HTMLResponse(html, exc.status, headers=_headers(None))
