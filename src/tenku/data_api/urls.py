"""Add-on URLs with their credentials swapped or left out; host, path and query kept."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit, urlunsplit


def _split(url: str) -> tuple[str, str]:
    """(userinfo, host:port)."""
    userinfo, _, hostport = urlsplit(url).netloc.rpartition("@")
    return userinfo, hostport


def _rebuild(url: str, netloc: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_credentials(url: str, user: str | None, password: str) -> str:
    """`url` for `user` (None: the user it names) with `password`."""
    userinfo, hostport = _split(url)
    name = quote(user, safe="") if user is not None else userinfo.partition(":")[0]
    return _rebuild(url, f"{name}:{quote(password, safe='')}@{hostport}")


def without_credentials(url: str) -> str:
    """Where the database is, not how to get in: for callers who may only see it."""
    return _rebuild(url, _split(url)[1])


def password_of(url: str) -> str:
    return unquote(urlsplit(url).password or "")


def user_of(url: str) -> str:
    return unquote(urlsplit(url).username or "")
