from __future__ import annotations

import uuid

from pydantic import EmailStr, Field

from tenku.resources.common import AccountRef, In, Out
from tenku.web.render import Timestamp


class InvitationOut(Out):
    created_at: Timestamp
    user: AccountRef


class InvitationCreate(In):
    email: EmailStr
    name: str | None = Field(default=None, max_length=255)


class InvitationFinalize(In):
    # The rules are the account's own (see service.check_password); this only bounds size.
    password: str = Field(max_length=1024)
    password_confirmation: str = Field(max_length=1024)
    # Tenku sends no newsletter: accepted and ignored.
    receive_newsletter: bool | None = None


class Invitee(Out):
    """`{email, id, name}`: who an invitation is for. Until the person has an account, `id`
    is the one the account will get."""

    email: str
    id: uuid.UUID
    name: str | None = None
