from __future__ import annotations

import uuid
from typing import Literal, cast

from pydantic import Field

from tenku.db.models import AppTransfer
from tenku.resources.common import AccountRef, In, Out, Ref
from tenku.web.render import Timestamp

State = Literal["pending", "accepted", "declined"]


class AppTransferOut(Out):
    app: Ref
    created_at: Timestamp
    id: uuid.UUID
    owner: AccountRef
    recipient: AccountRef
    state: State
    updated_at: Timestamp

    @classmethod
    def of(
        cls, transfer: AppTransfer, app: Ref, owner: AccountRef, recipient: AccountRef
    ) -> AppTransferOut:
        return cls(
            app=app,
            created_at=transfer.created_at,
            id=transfer.id,
            owner=owner,
            recipient=recipient,
            state=cast(State, transfer.state),
            updated_at=transfer.updated_at,
        )


class AppTransferCreate(In):
    app: str = Field(min_length=1, max_length=255)
    # An email, an account id or `~`.
    recipient: str = Field(min_length=1, max_length=254)
    # Whether to leave the recipient unmailed (they still find it in their list).
    silent: bool = False


class AppTransferUpdate(In):
    state: State
