from __future__ import annotations

import uuid

import pytest

from tenku.storage.sealing import Sealer


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
    with pytest.raises(ValueError, match="version"):
        sealer.unseal("v0." + sealed[3:], row)


def test_digests_are_keyed_and_separated_by_purpose() -> None:
    one, other = Sealer(b"one"), Sealer(b"other")
    assert one.digest("recovery-code", "0123456789abcdef") == one.digest(
        "recovery-code", "0123456789abcdef"
    )
    assert one.digest("recovery-code", "x") != other.digest("recovery-code", "x")
    assert one.digest("recovery-code", "x") != one.digest("sms-recover", "x")
    assert len(one.digest("a", "b")) == 64
