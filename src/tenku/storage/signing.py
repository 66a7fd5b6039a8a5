"""Unguessable, expiring URLs for blobs, signed with the installation's secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path


def load_secret(data_dir: Path, configured: str | None = None) -> bytes:
    """TENKU_SECRET_KEY when set (several hosts), else a key kept in the data directory."""
    if configured:
        return configured.encode()
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(48))
        tmp.chmod(0o600)
        try:
            tmp.rename(path) if not path.exists() else tmp.unlink()
        except FileExistsError:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip().encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def sign(self, key: str, method: str, ttl: int) -> str:
        payload = _b64(json.dumps([key, method.upper(), int(time.time()) + ttl]).encode())
        mac = hmac.new(self.secret, payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def verify(self, token: str, method: str) -> str | None:
        """The blob key a token grants for `method`, or None when forged or expired."""
        payload, _, mac = token.partition(".")
        try:
            expected = hmac.new(self.secret, payload.encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(expected, _unb64(mac)):
                return None
            key, allowed, expires = json.loads(_unb64(payload))
        except (ValueError, TypeError):
            return None
        if allowed != method.upper() or expires < time.time():
            return None
        return str(key)
