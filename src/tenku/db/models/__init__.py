"""Every table Tenku has, imported here so that metadata and Alembic see them all."""

from tenku.db.models.account import (
    Account,
    AccountFeatureState,
    Authorization,
    Key,
    RateLimitBucket,
)
from tenku.db.models.app import (
    App,
    AppFeatureState,
    Collaborator,
    ConfigVar,
    Domain,
    Formation,
    LogDrain,
)
from tenku.db.models.release import Release, Slug

__all__ = [
    "Account",
    "AccountFeatureState",
    "App",
    "AppFeatureState",
    "Authorization",
    "Collaborator",
    "ConfigVar",
    "Domain",
    "Formation",
    "Key",
    "LogDrain",
    "RateLimitBucket",
    "Release",
    "Slug",
]
