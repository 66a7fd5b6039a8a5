"""An app's buildpack list, and what a buildpack may be named by.

Accepted: a built-in buildpack's name (`heroku/python`) or its `urn:buildpack:` URN,
the download URL the buildpack registry gives for it, an absolute path or file://
URL of a buildpack directory or tarball on the server, or an http(s) URL.
"""

from __future__ import annotations

import re
import tarfile
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.buildpacks import BUILTIN, URN_PREFIX
from tenku.config import Settings
from tenku.db.models import App, BuildpackInstallation
from tenku.egress import LOCAL_REFUSED, LocalPathRefused, local_source
from tenku.resources.release.service import lock_app
from tenku.web.errors import InvalidParams

REGISTRY_NAME = re.compile(r"^[A-Za-z0-9][\w-]*/[A-Za-z0-9][\w-]*$")
# Where Tenku's registry serves a built-in buildpack, and where Heroku's did.
OWN_TARBALL = re.compile(r"^/blobs/buildpacks/([\w-]+)/([\w-]+)\.tgz$")
HEROKU_TARBALL_HOSTS = ("buildpack-registry.s3.amazonaws.com", "codon-buildpacks.s3.amazonaws.com")
HEROKU_TARBALL = re.compile(r"^/buildpacks/([\w-]+)/([\w-]+)\.tgz$")


def _invalid(spec: str, why: str) -> InvalidParams:
    return InvalidParams(f"Invalid buildpack provided: {spec!r} {why}.")


def _builtin(spec: str, name: str) -> tuple[str, str]:
    if name not in BUILTIN:
        known = ", ".join(sorted(BUILTIN))
        raise _invalid(spec, f"is not a buildpack Tenku has (built in: {known})")
    return URN_PREFIX + name, name


def _ours(settings: Settings, scheme: str, netloc: str) -> bool:
    for base in (settings.public_api_url, settings.http_api_url):
        if base is not None:
            mine = urlsplit(base)
            if (mine.scheme, mine.netloc) == (scheme, netloc):
                return True
    return False


def _local(settings: Settings, spec: str, path: Path) -> tuple[str, str]:
    if not path.is_absolute():
        raise _invalid(spec, "is not an absolute path")
    try:
        # Before anything looks at the path, so that the answer tells nothing of the host.
        path = local_source(path, settings, shown=spec)
    except LocalPathRefused:
        raise _invalid(spec, LOCAL_REFUSED) from None
    if path.is_dir():
        if not (path / "bin" / "compile").is_file():
            raise _invalid(spec, "is a directory without bin/compile, so not a buildpack")
    elif path.is_file():
        try:
            ok = tarfile.is_tarfile(path)
        except OSError:
            ok = False
        if not ok:
            raise _invalid(spec, "is a file but not a tarball")
    else:
        raise _invalid(spec, "does not exist on the Tenku server")
    url = path.as_uri()
    return url, url


def canonical(settings: Settings, spec: str) -> tuple[str, str]:
    """(url, name) to store for a buildpack as a client named it."""
    text = spec.strip()
    if not text:
        raise InvalidParams("Invalid buildpack provided: it is empty.")
    if any(ord(c) < 32 for c in text):
        raise _invalid(text, "contains control characters")
    if text in BUILTIN:
        return _builtin(text, text)
    if text.startswith(URN_PREFIX):
        return _builtin(text, text[len(URN_PREFIX) :])
    if REGISTRY_NAME.match(text):
        return _builtin(text, text)
    if text.startswith("/"):
        return _local(settings, text, Path(text))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _invalid(text, "names a file on another host")
        return _local(settings, text, Path(url2pathname(unquote(parts.path))))
    if scheme in ("http", "https"):
        if not parts.hostname or any(c.isspace() for c in text):
            raise _invalid(text, "is not a valid URL")
        own = OWN_TARBALL.match(parts.path)
        if own and _ours(settings, scheme, parts.netloc):
            return _builtin(text, f"{own.group(1)}/{own.group(2)}")
        heroku = HEROKU_TARBALL.match(parts.path)
        if heroku and parts.hostname in HEROKU_TARBALL_HOSTS:
            return _builtin(text, f"{heroku.group(1)}/{heroku.group(2)}")
        return text, text
    raise _invalid(
        text, "is not a buildpack name, an absolute path, a file:// URL or an http(s) URL"
    )


async def installations(db: AsyncSession, app_id: uuid.UUID) -> list[BuildpackInstallation]:
    rows = await db.execute(
        select(BuildpackInstallation)
        .where(BuildpackInstallation.app_id == app_id)
        .order_by(BuildpackInstallation.ordinal)
    )
    return list(rows.scalars())


async def replace(
    db: AsyncSession, settings: Settings, app: App, specs: list[str]
) -> list[BuildpackInstallation]:
    resolved = [canonical(settings, spec) for spec in specs]
    seen: set[str] = set()
    for url, name in resolved:
        if url in seen:
            raise InvalidParams(f"Invalid buildpack provided: {name} is listed more than once.")
        seen.add(url)
    await lock_app(db, app)
    await db.execute(delete(BuildpackInstallation).where(BuildpackInstallation.app_id == app.id))
    rows = [
        BuildpackInstallation(app_id=app.id, ordinal=i, url=url, name=name)
        for i, (url, name) in enumerate(resolved)
    ]
    db.add_all(rows)
    await db.flush()
    return rows
