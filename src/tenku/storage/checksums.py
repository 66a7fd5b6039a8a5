"""Checksums of uploaded tarballs, as the API spells them: `SHA256:<64 hex digits>`."""

from __future__ import annotations

import re

CHECKSUM_RE = re.compile(r"^SHA256:([0-9a-fA-F]{64})$")


def sha256_hex(checksum: str) -> str | None:
    """The lowercase hex digest `checksum` names; None when it is not a SHA256 checksum."""
    m = CHECKSUM_RE.match(checksum)
    return m.group(1).lower() if m else None
