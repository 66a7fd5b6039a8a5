from __future__ import annotations

from pydantic import Field

from tenku.db.models import Account
from tenku.resources.common import In, Out
from tenku.resources.sms_number.service import mask


class SmsNumberOut(Out):
    sms_number: str | None

    @classmethod
    def of(cls, account: Account) -> SmsNumberOut:
        return cls(sms_number=mask(account.sms_number))


class SmsNumberConfirm(In):
    # The code texted to the new number after `PATCH /account` named it.
    code: str = Field(min_length=1, max_length=64)
