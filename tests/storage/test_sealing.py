from __future__ import annotations

import pytest

from tenku.storage.sealing import Sealer, SealError


def test_a_sealed_value_opens_only_with_its_key_and_context() -> None:
    sealer = Sealer(b"installation secret")
    sealed = sealer.seal(b"-----BEGIN PRIVATE KEY-----", b"row-1")
    assert b"PRIVATE" not in sealed.encode()
    assert sealed.startswith("v1.")
    assert sealer.open(sealed, b"row-1") == b"-----BEGIN PRIVATE KEY-----"
    # A fresh nonce each time: the same secret never seals to the same text twice.
    assert sealer.seal(b"x", b"row-1") != sealer.seal(b"x", b"row-1")
    for value, context, opener in (
        (sealed, b"row-2", sealer),
        (sealed, b"row-1", Sealer(b"another secret")),
        (sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"), b"row-1", sealer),
        ("v2." + sealed[3:], b"row-1", sealer),
        ("v1.!!!", b"row-1", sealer),
        ("plain text", b"row-1", sealer),
    ):
        with pytest.raises(SealError):
            opener.open(value, context)
