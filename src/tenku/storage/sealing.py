"""Secrets kept in the database sealed with the installation's key (AES-256-GCM).

The key is derived from the installation's secret (`signing.load_secret`), so a copy of
the database alone reveals nothing, and every host of one installation (sharing
TENKU_SECRET_KEY) can open what another sealed. Each sealed value is bound to a context
(the row it belongs to): a value copied into another row does not open there.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12


class SealError(Exception):
    """A sealed value that does not open: altered, from another row, or another key."""


class Sealer:
    def __init__(self, secret: bytes) -> None:
        # A key of its own, so sealing never shares a key with signing blob URLs.
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"tenku sealed values v1"
        ).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, context)
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, value: str, context: bytes) -> bytes:
        version, _, encoded = value.partition(".")
        if version != VERSION:
            raise SealError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(encoded.encode())
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context)
        except (binascii.Error, ValueError, InvalidTag) as exc:
            raise SealError("the value does not open with this installation's key") from exc
