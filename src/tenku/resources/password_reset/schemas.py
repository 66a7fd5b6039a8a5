from __future__ import annotations

from datetime import datetime

from pydantic import EmailStr, Field, model_validator

from tenku.resources.common import AccountRef, In, Out
from tenku.web.render import Timestamp


class PasswordResetOut(Out):
    created_at: Timestamp
    user: AccountRef

    @classmethod
    def of(cls, created_at: datetime, user: AccountRef) -> PasswordResetOut:
        return cls(created_at=created_at, user=user)


class PasswordResetCreate(In):
    email: EmailStr = Field(max_length=254)


class PasswordResetFinalize(In):
    # The new password (the reference's note on it is copied from `account`).
    password: str = Field(min_length=1, max_length=1024)
    password_confirmation: str = Field(max_length=1024)

    @model_validator(mode="after")
    def _confirmed(self) -> PasswordResetFinalize:
        if self.password != self.password_confirmation:
            raise ValueError("password_confirmation does not match password")
        return self
