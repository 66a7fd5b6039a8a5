from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from tenku.db.models import Account, AccountFeatureState
from tenku.resources.account_feature.catalog import ACCOUNT_FEATURES
from tenku.resources.app_feature.schemas import FeatureOut
from tenku.resources.app_feature.service import Owner, feature_of, features_of, set_enabled


def _owner(account: Account) -> Owner:
    return {"account_id": account.id}


async def account_features(db: AsyncSession, account: Account) -> list[FeatureOut]:
    return await features_of(db, ACCOUNT_FEATURES, AccountFeatureState, _owner(account))


async def account_feature(db: AsyncSession, account: Account, ident: str) -> FeatureOut:
    return await feature_of(db, ACCOUNT_FEATURES, AccountFeatureState, _owner(account), ident)


async def update_account_feature(
    db: AsyncSession, account: Account, ident: str, enabled: bool
) -> FeatureOut:
    return await set_enabled(
        db, ACCOUNT_FEATURES, AccountFeatureState, _owner(account), ident, enabled
    )
