from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictBool, StrictStr

from tenku.resources.common import Out

ShortText = Annotated[StrictStr, Field(max_length=255)]


def dashed(name: str) -> str:
    return name.replace("_", "-")


class PreferencesOut(Out):
    """Stored and sent under the reference's dashed names (`dismissed-sms-banner`)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=dashed, validate_by_name=True, serialize_by_alias=True
    )

    default_organization: ShortText | None = None
    dismissed_getting_started: StrictBool | None = None
    dismissed_github_banner: StrictBool | None = None
    dismissed_org_access_controls: StrictBool | None = None
    dismissed_org_wizard_notification: StrictBool | None = None
    dismissed_pipelines_banner: StrictBool | None = None
    dismissed_pipelines_github_banner: StrictBool | None = None
    dismissed_pipelines_github_banners: (
        Annotated[list[ShortText], Field(max_length=1000)] | None
    ) = None
    dismissed_sms_banner: StrictBool | None = None
    timezone: ShortText | None = None

    @classmethod
    def of(cls, stored: dict[str, Any]) -> PreferencesOut:
        known = {k: v for k, v in stored.items() if k in _NAMES}
        return cls.model_validate(known)


class PreferencesUpdate(PreferencesOut):
    """The same fields as a PATCH body: only dashed names count, anything else is ignored."""

    model_config = ConfigDict(extra="ignore", validate_by_name=False)


_NAMES = {dashed(name) for name in PreferencesOut.model_fields}
