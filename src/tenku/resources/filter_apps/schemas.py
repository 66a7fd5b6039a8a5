from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from tenku.resources.app.schemas import AppOut
from tenku.resources.common import In, Out, Ref

MAX_IDS = 1000


class IdIn(In):
    id: Annotated[list[uuid.UUID], Field(max_length=MAX_IDS)]


class AppFilter(In):
    in_: IdIn = Field(alias="in")


class OrganizationName(Out):
    id: uuid.UUID | None = None
    name: str


class FilteredAppOut(AppOut):
    """The organization-app shape the reference documents for filter results."""

    build_stack: Ref | None = None  # type: ignore[assignment]
    joined: bool = False
    organization: OrganizationName | None = None  # type: ignore[assignment]
