from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tenku.db.base import Base, Timestamps, new_id


class Account(Timestamps, Base):
    __tablename__ = "accounts"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Stored lowercased: lookups by email are case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    allow_tracking: Mapped[bool] = mapped_column(Boolean, default=True)
    beta: Mapped[bool] = mapped_column(Boolean, default=False)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    two_factor_authentication: Mapped[bool] = mapped_column(Boolean, default=False)
    sms_number: Mapped[str | None] = mapped_column(String(64))
    suspended_at: Mapped[datetime | None]
    delinquent_at: Mapped[datetime | None]
    last_login: Mapped[datetime | None]
    default_organization_id: Mapped[uuid.UUID | None]
    preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Authorization(Timestamps, Base):
    """An OAuth authorization; the operator-minted API key is one of these too."""

    __tablename__ = "authorizations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    description: Mapped[str] = mapped_column(Text, default="")
    scope: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_api_key: Mapped[bool] = mapped_column(Boolean, default=False)
    client_id: Mapped[uuid.UUID | None]
    # Tokens are kept only as SHA-256 digests plus a short hint for display.
    access_token_id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    access_token_hint: Mapped[str] = mapped_column(String(32))
    access_token_expires_at: Mapped[datetime | None]
    refresh_token_id: Mapped[uuid.UUID | None]
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_token_hint: Mapped[str | None] = mapped_column(String(32))
    last_used_at: Mapped[datetime | None]


class Key(Timestamps, Base):
    __tablename__ = "keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128), unique=True)
    comment: Mapped[str] = mapped_column(Text, default="")


class AccountFeatureState(Base):
    __tablename__ = "account_feature_states"

    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


class RateLimitBucket(Base):
    """GCRA state: `tat` is the theoretical arrival time, in epoch seconds."""

    __tablename__ = "rate_limit_buckets"

    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)


class AuthGeneration(Base):
    """One row, moved on by every change to an account or an authorization (see
    tenku/db/generation.py): API workers that keep tokens' owners in memory drop what
    they keep when it moves."""

    __tablename__ = "auth_generation"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
