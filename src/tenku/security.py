"""Secrets: password hashing, API token minting and digests."""

from __future__ import annotations

import asyncio
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
TOKEN_PREFIX = "tku_"
# Other secrets say what they are, so that a leaked one is recognised (and never tried as
# a token): OAuth client secrets and authorization codes. Every prefix has four characters.
CLIENT_SECRET_PREFIX = "tkc_"
GRANT_CODE_PREFIX = "tkg_"
# Checked against when an email is unknown, so both paths cost the same.
DUMMY_HASH = _hasher.hash("tenku-no-such-account")
REDACTION = "*" * 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = TOKEN_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    # Tokens (and client secrets, codes) carry 256 bits of entropy, so a fast digest is
    # enough to store them: nobody can search that space, whatever the hash costs.
    return hashlib.sha256(token.encode()).hexdigest()


def token_hint(token: str) -> str:
    """The redacted form the CLI matches on logout: prefix, ten asterisks, suffix."""
    return token[: len(TOKEN_PREFIX) + 4] + REDACTION + token[-4:]


async def hash_password_async(password: str) -> str:
    # argon2 is deliberately slow: keep it off the event loop.
    return await asyncio.to_thread(hash_password, password)


async def verify_password_async(password_hash: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, password_hash, password)
