"""Every table Tenku has, imported here so that metadata and Alembic see them all."""

from tenku.db.models.account import (
    Account,
    AccountFeatureState,
    AuthGeneration,
    Authorization,
    Key,
    OAuthClient,
    RateLimitBucket,
)
from tenku.db.models.addon import (
    Addon,
    AddonAttachment,
    AddonToken,
    PostgresCredential,
    ReleaseAddonVars,
)
from tenku.db.models.app import (
    App,
    AppFeatureState,
    AppTransfer,
    Collaborator,
    ConfigVar,
    Domain,
    Formation,
    LogDrain,
    SniEndpoint,
)
from tenku.db.models.app_setup import AppSetup
from tenku.db.models.build import Build, BuildOutput
from tenku.db.models.buildpack import BuildpackInstallation
from tenku.db.models.drain import DrainCursor
from tenku.db.models.dyno import Dyno
from tenku.db.models.log import LogLine, LogStream
from tenku.db.models.pg_transfer import PgTransfer, PgTransferSchedule
from tenku.db.models.pipeline import (
    Pipeline,
    PipelineCoupling,
    PipelinePromotion,
    PipelinePromotionTarget,
)
from tenku.db.models.release import Release, Slug
from tenku.db.models.runtime import RuntimeBeat, RuntimeChange
from tenku.db.models.second_factor import (
    AuthThrottle,
    OtpSecret,
    PasswordReset,
    RecoveryCode,
    SmsCode,
)
from tenku.db.models.team import Invitation, Team, TeamAddonService, TeamMember

__all__ = [
    "Account",
    "AccountFeatureState",
    "Addon",
    "AddonAttachment",
    "AddonToken",
    "App",
    "AppFeatureState",
    "AppSetup",
    "AppTransfer",
    "AuthGeneration",
    "AuthThrottle",
    "Authorization",
    "Build",
    "BuildOutput",
    "BuildpackInstallation",
    "Collaborator",
    "ConfigVar",
    "Domain",
    "DrainCursor",
    "Dyno",
    "Formation",
    "Invitation",
    "Key",
    "LogDrain",
    "LogLine",
    "LogStream",
    "OAuthClient",
    "OtpSecret",
    "PasswordReset",
    "PgTransfer",
    "PgTransferSchedule",
    "Pipeline",
    "PipelineCoupling",
    "PipelinePromotion",
    "PipelinePromotionTarget",
    "PostgresCredential",
    "RateLimitBucket",
    "RecoveryCode",
    "Release",
    "ReleaseAddonVars",
    "RuntimeBeat",
    "RuntimeChange",
    "Slug",
    "SmsCode",
    "SniEndpoint",
    "Team",
    "TeamAddonService",
    "TeamMember",
]
