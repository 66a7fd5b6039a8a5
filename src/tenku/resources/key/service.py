from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, Key
from tenku.web.errors import InvalidParams, NotFound
from tenku.web.lookup import get_one

IN_USE = "Key already in use"


@dataclass(frozen=True)
class ParsedKey:
    public_key: str
    fingerprint: str
    comment: str


def fingerprint(blob: bytes) -> str:
    """The MD5 colon-hex form Heroku has always shown (`ssh-keygen -E md5`)."""
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def parse_public_key(text: str) -> ParsedKey:
    """One OpenSSH public key line: `<type> <base64> [comment]`."""
    line = text.strip()
    parts = line.split(None, 2)
    if "\n" in line or "\r" in line or len(parts) < 2:
        raise InvalidParams("Invalid public_key provided: expected one OpenSSH public key line.")
    kind, encoded = parts[0], parts[1]
    comment = parts[2].strip() if len(parts) == 3 else ""
    try:
        serialization.load_ssh_public_key(f"{kind} {encoded}".encode("ascii"))
        blob = base64.b64decode(encoded, validate=True)
    except (ValueError, UnsupportedAlgorithm, binascii.Error) as exc:
        raise InvalidParams("Invalid public_key provided: not a valid SSH public key.") from exc
    normalized = f"{kind} {encoded} {comment}" if comment else f"{kind} {encoded}"
    return ParsedKey(normalized, fingerprint(blob), comment)


def keys_of(account_id: uuid.UUID) -> Select[Key]:
    return select(Key).where(Key.account_id == account_id)


async def get_key(db: AsyncSession, account: Account, ident: str) -> Key:
    """`{key_id_or_fingerprint}`, among the caller's own keys only."""
    return await get_one(
        db,
        keys_of(account.id),
        ident,
        Key.id,
        (Key.fingerprint, lambda fingerprint: fingerprint.strip().lower()),
        missing=NotFound("key"),
    )


async def add_key(db: AsyncSession, account: Account, public_key: str) -> Key:
    parsed = parse_public_key(public_key)
    taken = (await db.execute(select(Key.id).where(Key.fingerprint == parsed.fingerprint))).first()
    if taken is not None:
        raise InvalidParams(IN_USE)
    key = Key(
        account_id=account.id,
        public_key=parsed.public_key,
        fingerprint=parsed.fingerprint,
        comment=parsed.comment,
    )
    db.add(key)
    try:
        await db.flush()
    except IntegrityError as exc:
        raise InvalidParams(IN_USE) from exc
    return key


async def remove_key(db: AsyncSession, account: Account, ident: str) -> Key:
    key = await get_key(db, account, ident)
    await db.delete(key)
    await db.flush()
    return key
