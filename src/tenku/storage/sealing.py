"""Secrets at rest, under keys derived from the installation's secret (`load_secret`).

`seal`/`open` encrypt what must be read back (OTP seeds, TLS private keys) with
AES-256-GCM, each value bound to a context (the row it belongs to): a value copied into
another row does not open there. `digest` keys the digests of short codes (recovery and
SMS codes), which a plain hash would not protect. A copy of the database alone reveals
none of them; every host of one installation (sharing TENKU_SECRET_KEY) opens what
another sealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that does not open: altered, from another row, or another key."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    # Keys of their own, so sealing never shares a key with signing blob URLs.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class Sealer:
    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(_derive(secret, b"tenku/seal/v1"))
        self._mac_key = _derive(secret, b"tenku/digest/v1")

    def seal(self, plaintext: bytes | str, context: bytes) -> str:
        """`plaintext` encrypted; `context` (a row's id) must be given again to open it."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, data, context)
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

    def unseal(self, value: str, context: bytes) -> str:
        """What `seal` was given as text."""
        return self.open(value, context).decode()

    def digest(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 (hex) of `value`, one key per installation, one domain per purpose."""
        message = purpose.encode() + b"\0" + value.encode()
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()
