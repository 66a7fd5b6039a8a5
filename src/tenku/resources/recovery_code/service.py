from __future__ import annotations

import secrets

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, RecoveryCode
from tenku.storage.sealing import Sealer
from tenku.web.login import RECOVERY_CODE_LENGTH

COUNT = 10


async def generate(db: AsyncSession, sealer: Sealer, account: Account) -> list[str]:
    """Ten new codes, replacing every earlier one; only their digests are kept."""
    await db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account.id))
    codes = sorted(secrets.token_hex(RECOVERY_CODE_LENGTH // 2) for _ in range(COUNT))
    db.add_all(
        RecoveryCode(account_id=account.id, code_digest=sealer.digest("recovery-code", code))
        for code in codes
    )
    await db.flush()
    return codes
