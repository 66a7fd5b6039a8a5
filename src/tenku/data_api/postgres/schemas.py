"""The Data API's Postgres bodies, with the field names Heroku's CLI reads (`waiting?`...)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, RootModel

from tenku.data_api.schemas import Aliased, InfoItem
from tenku.web.render import Timestamp


class DatabaseOut(Aliased):
    """`GET /client/v11/databases/{id}`: what `pg:info` prints (its `info`) and more."""

    addon_id: uuid.UUID
    heroku_resource_id: uuid.UUID
    name: str
    plan: str
    created_at: Timestamp
    database_name: str
    database_user: str
    port: int
    postgres_version: str
    num_bytes: int
    num_tables: int
    num_connections: int
    num_connections_waiting: int
    # Without credentials: `pg:info` finds the config vars that point at it.
    resource_url: str
    waiting: bool = Field(alias="waiting?")
    standalone: bool = Field(alias="standalone?")
    hot_standby: bool = Field(alias="hot_standby?")
    following: str | None = None
    forked_from: str | None = None
    leader: str | None = None
    info: list[InfoItem]


class WaitStatus(Aliased):
    waiting: bool = Field(alias="waiting?")
    error: bool = Field(alias="error?")
    message: str


class CredentialUser(BaseModel):
    user: str
    password: str
    state: str
    connections: int | None


class CredentialOut(BaseModel):
    """One credential, as `pg:credentials` and `pg:credentials:url` read it."""

    uuid: uuid.UUID
    name: str
    state: str
    database: str
    host: str
    port: int
    credentials: list[CredentialUser]


class CredentialCreate(BaseModel):
    name: str


class Rotation(BaseModel):
    # `--force`: connections are ended at once (the CLI sends nothing without it).
    forced: bool | None = None


class ResetBody(BaseModel):
    extensions: list[str] | None = None


class SettingOut(BaseModel):
    value: bool | int | str
    default: bool | int | str
    desc: str
    values: dict[str, str]


class SettingsOut(RootModel[dict[str, SettingOut]]):
    """`pg:settings`: each setting by name."""
