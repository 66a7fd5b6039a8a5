from __future__ import annotations

import uuid

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


def test_sealed_values_open_only_with_their_key_and_row() -> None:
    sealer = Sealer(b"installation secret")
    row = uuid.uuid4().bytes
    sealed = sealer.seal("JBSWY3DPEHPK3PXP", row)
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert sealer.unseal(sealed, row) == "JBSWY3DPEHPK3PXP"
    # Each sealing is fresh (a new nonce): equal seeds do not look equal at rest.
    assert sealer.seal("JBSWY3DPEHPK3PXP", row) != sealed
    with pytest.raises(ValueError, match="does not open"):
        sealer.unseal(sealed, uuid.uuid4().bytes)
    with pytest.raises(ValueError, match="does not open"):
        Sealer(b"another installation").unseal(sealed, row)
    with pytest.raises(ValueError, match="does not open"):
        sealer.unseal(sealed[:-4] + "AAAA", row)
    with pytest.raises(ValueError, match="not a sealed value"):
        sealer.unseal("v0." + sealed[3:], row)


def test_digests_are_keyed_and_separated_by_purpose() -> None:
    one, other = Sealer(b"one"), Sealer(b"other")
    assert one.digest("recovery-code", "0123456789abcdef") == one.digest(
        "recovery-code", "0123456789abcdef"
    )
    assert one.digest("recovery-code", "x") != other.digest("recovery-code", "x")
    assert one.digest("recovery-code", "x") != one.digest("sms-recover", "x")
    assert len(one.digest("a", "b")) == 64
