"""Bodies both Data APIs answer with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Aliased(BaseModel):
    """Fields named as Heroku's CLI reads them (`waiting?`), through aliases."""

    model_config = ConfigDict(validate_by_name=True, serialize_by_alias=True)


class InfoItem(BaseModel):
    """One line of `pg:info` or `redis:info`."""

    name: str
    values: list[str]


class Message(BaseModel):
    message: str
