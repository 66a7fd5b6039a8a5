"""Secrets at rest, under keys derived from the installation's secret (`load_secret`).

`seal`/`unseal` encrypt what must be read back (OTP seeds) with AES-256-GCM, bound to
the row they belong to; `digest` keys the digests of short codes (recovery and SMS codes),
which a plain hash would not protect: a database copied without the key reveals neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret)


class Sealer:
    def __init__(self, secret: bytes) -> None:
        self._aead = AESGCM(_derive(secret, b"tenku/seal/v1"))
        self._mac_key = _derive(secret, b"tenku/digest/v1")

    def seal(self, plaintext: str, bound_to: bytes) -> str:
        """`plaintext` encrypted; `bound_to` (a row's id) must be given again to open it."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), bound_to)
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def unseal(self, sealed: str, bound_to: bytes) -> str:
        """The plaintext; ValueError when it was sealed under another key or for another row."""
        version, _, data = sealed.partition(".")
        if version != VERSION:
            raise ValueError("unknown sealing version")
        try:
            raw = base64.urlsafe_b64decode(data)
            return self._aead.decrypt(raw[:12], raw[12:], bound_to).decode()
        except (InvalidTag, ValueError) as exc:
            raise ValueError("sealed value does not open with this installation's key") from exc

    def digest(self, purpose: str, value: str) -> str:
        """HMAC-SHA256 (hex) of `value`, one key per installation, one domain per purpose."""
        message = purpose.encode() + b"\0" + value.encode()
        return hmac.new(self._mac_key, message, hashlib.sha256).hexdigest()
