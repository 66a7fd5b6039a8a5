"""What signing in asks besides a password, and what recovers an account.

No secret is kept as given: OTP seeds are encrypted with a key derived from the
installation's secret (`tenku.storage.sealing`), recovery and SMS codes are kept as keyed
digests, and password reset tokens as SHA-256 digests (see README, "How secrets are stored").
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, UTCDateTime, new_id, utcnow


class OtpSecret(Timestamps, Base):
    """A TOTP seed. Unconfirmed until a code made from it turns two-factor on; creating
    another replaces the unconfirmed one, confirming one replaces the confirmed one."""

    __tablename__ = "otp_secrets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Sealed (AES-GCM) with the account id as associated data.
    seed: Mapped[str] = mapped_column(Text)
    confirmed_at: Mapped[datetime | None]
    # The last time-step a code was accepted for: a code is good once, within its window.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """One of the ten codes that stand in for a TOTP code once each."""

    __tablename__ = "recovery_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # HMAC-SHA256 (hex) under a key derived from the installation's secret.
    code_digest: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsCode(Base):
    """A code sent by SMS: `confirm` proves a new number, `recover` is a second factor."""

    __tablename__ = "sms_codes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    # The number the code went to (for `confirm`, the one that becomes the account's).
    number: Mapped[str] = mapped_column(String(64))
    code_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PasswordReset(Base):
    __tablename__ = "password_resets"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # SHA-256 of the mailed token (256 random bits).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthThrottle(Base):
    """Failed attempts of one kind by one subject (an account, a client address), and
    until when that subject is locked out; see tenku/web/throttle.py."""

    __tablename__ = "auth_throttle"

    subject: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None]
