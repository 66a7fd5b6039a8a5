"""Blob URLs: `<api>/blobs/<token>`, where the signed token names what it grants.

A token's subject is either a blob key (sources) or a reference such as
`slug:<id>` that the blob endpoint resolves when the URL is used, so that a slug's
URLs follow its upload and stop working once the slug is gone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from tenku.config import Settings
from tenku.storage.signing import Signer

PREFIX = "/blobs/"
# Long enough for a slow upload or a queued build to start; short enough not to linger.
DEFAULT_TTL = 3600
SLUG_REF = "slug:"


def base_url(settings: Settings, request: Request | None = None) -> str:
    """The API's public URL; the plain-HTTP one for a request that arrived over it."""
    if (
        request is not None
        and not settings.api_url
        and settings.http_port is not None
        and request.url.scheme == "http"
        and request.url.port == settings.http_port
    ):
        return settings.http_api_url or settings.public_api_url
    return settings.public_api_url


def blob_url(
    settings: Settings,
    signer: Signer,
    subject: str,
    method: str,
    ttl: int = DEFAULT_TTL,
    request: Request | None = None,
) -> str:
    return f"{base_url(settings, request)}{PREFIX}{signer.sign(subject, method, ttl)}"


def slug_subject(slug_id: object) -> str:
    return f"{SLUG_REF}{slug_id}"


def is_ours(settings: Settings, url: str) -> bool:
    """Whether `url` is on this installation's API (either listener)."""
    origin = urlsplit(url)
    for base in (settings.public_api_url, settings.http_api_url):
        if base is None:
            continue
        mine = urlsplit(base)
        if (origin.scheme, origin.netloc) == (mine.scheme, mine.netloc):
            return True
    return False


def subject_of(settings: Settings, signer: Signer, url: str, method: str = "GET") -> str | None:
    """What a blob URL of this installation grants (None: not ours, forged or expired).

    Lets the platform read a blob it serves straight from the store instead of
    downloading it from itself.
    """
    if not is_ours(settings, url):
        return None
    path = urlsplit(url).path
    if not path.startswith(PREFIX):
        return None
    token = path[len(PREFIX) :]
    if not token or "/" in token:
        return None
    return signer.verify(token, method)
