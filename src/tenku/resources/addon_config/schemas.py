from __future__ import annotations

from pydantic import Field

from tenku.resources.common import In, Out


class ConfigItemOut(Out):
    name: str
    value: str | None


class ConfigItemIn(In):
    name: str = Field(min_length=1, max_length=255)
    value: str | None = None


class ConfigUpdate(In):
    config: list[ConfigItemIn] = []
