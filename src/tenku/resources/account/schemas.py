from __future__ import annotations

import uuid

from pydantic import EmailStr, Field

from tenku.db.models import Account
from tenku.resources.common import In, Out, Ref
from tenku.resources.sms_number.service import mask
from tenku.web.render import Timestamp


class AccountOut(Out):
    allow_tracking: bool
    beta: bool
    created_at: Timestamp
    email: str
    federated: bool = False
    id: uuid.UUID
    last_login: Timestamp | None
    name: str | None
    sms_number: str | None
    suspended_at: Timestamp | None
    delinquent_at: Timestamp | None
    two_factor_authentication: bool
    updated_at: Timestamp
    verified: bool
    default_organization: Ref | None = None
    default_team: Ref | None = None

    @classmethod
    def of(cls, a: Account, default_team: Ref | None = None) -> AccountOut:
        return cls(
            default_organization=default_team,
            default_team=default_team,
            allow_tracking=a.allow_tracking,
            beta=a.beta,
            created_at=a.created_at,
            email=a.email,
            id=a.id,
            last_login=a.last_login,
            name=a.name,
            sms_number=mask(a.sms_number),
            suspended_at=a.suspended_at,
            delinquent_at=a.delinquent_at,
            two_factor_authentication=a.two_factor_authentication,
            updated_at=a.updated_at,
            verified=a.verified,
        )


class AccountUpdate(In):
    allow_tracking: bool | None = None
    beta: bool | None = None
    name: str | None = Field(default=None, max_length=255)
    email: EmailStr | None = None
    new_password: str | None = Field(default=None, min_length=1, max_length=1024)
    password: str | None = None
    # Turning two-factor on takes a code from the new OTP secret, turning it off the
    # second factor, both in `Heroku-Two-Factor-Code` (see resources/otp_secret).
    two_factor_authentication: bool | None = None
    # A new number gets a code to confirm it (`.../sms-number/actions/confirm`); null
    # removes it.
    sms_number: str | None = Field(default=None, max_length=64)
