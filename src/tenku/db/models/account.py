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


class OAuthClient(Timestamps, Base):
    """An application users may authorize through the code flow (`/oauth/authorize`)."""

    __tablename__ = "oauth_clients"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Who registered it (and alone may change it); any user may authorize it.
    account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    redirect_uri: Mapped[str] = mapped_column(Text)
    # The secret is kept as a SHA-256 digest (it is 256 random bits) plus a redacted hint:
    # the token exchange finds the client by it, and only create and rotate show it.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hint: Mapped[str] = mapped_column(String(32))


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
    # Set for authorizations an OAuth client obtained; removing the client revokes them.
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    # Tokens are kept only as SHA-256 digests plus a short hint for display. An access
    # token is absent (NULL) while a client has not yet exchanged its grant, and after a
    # client revoked it (DELETE /oauth/tokens/{id}).
    access_token_id: Mapped[uuid.UUID] = mapped_column(default=new_id)
    access_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    access_token_hint: Mapped[str | None] = mapped_column(String(32))
    access_token_expires_at: Mapped[datetime | None]
    refresh_token_id: Mapped[uuid.UUID | None]
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_token_hint: Mapped[str | None] = mapped_column(String(32))
    # The authorization code the approval page issued: a digest, the redirect URI it was
    # issued for, a short life, and when it was used (it is single-use; kept after use so
    # that a second use is recognised and revokes what the first one obtained).
    grant_id: Mapped[uuid.UUID | None]
    grant_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    grant_redirect_uri: Mapped[str | None] = mapped_column(Text)
    grant_expires_at: Mapped[datetime | None]
    grant_used_at: Mapped[datetime | None]
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
