from __future__ import annotations

from pydantic import Field

from tenku.db.models import BuildpackInstallation
from tenku.resources.common import In, Out

MAX_BUILDPACKS = 16


class BuildpackOut(Out):
    url: str
    name: str


class BuildpackInstallationOut(Out):
    buildpack: BuildpackOut
    ordinal: int

    @classmethod
    def of(cls, row: BuildpackInstallation) -> BuildpackInstallationOut:
        return cls(buildpack=BuildpackOut(url=row.url, name=row.name), ordinal=row.ordinal)


class BuildpackUpdate(In):
    buildpack: str = Field(max_length=2048)


class BuildpackInstallationsUpdate(In):
    updates: list[BuildpackUpdate] = Field(max_length=MAX_BUILDPACKS)
