"""The shapes `heroku pg:backups*` and `pg:copy` read from Heroku's transfer service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import PlainSerializer, WithJsonSchema

from tenku.config import Settings
from tenku.data_api.backups.retention import Retention
from tenku.data_api.backups.service import BACKUP, heroku_time, shown_url, transfer_url
from tenku.db.models import PgTransfer, PgTransferSchedule
from tenku.resources.common import In, Out

# Heroku's transfer service writes `2016-10-08 00:00:00 +0000`; the CLI shows it as is.
HerokuTime = Annotated[
    datetime,
    PlainSerializer(heroku_time, return_type=str),
    WithJsonSchema({"type": "string"}),
]
DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


class ScheduleRef(Out):
    uuid: uuid.UUID


class LogOut(Out):
    created_at: str
    level: str
    message: str


class TransferOut(Out):
    uuid: uuid.UUID
    num: int
    from_name: str | None
    from_type: str
    from_url: str | None
    to_name: str | None
    to_type: str
    to_url: str | None
    options: dict[str, Any]
    source_bytes: int | None
    processed_bytes: int
    succeeded: bool | None
    warnings: int
    num_keep: int
    schedule: ScheduleRef | None
    created_at: HerokuTime
    started_at: HerokuTime | None
    updated_at: HerokuTime
    finished_at: HerokuTime | None
    canceled_at: HerokuTime | None
    deleted_at: HerokuTime | None
    purged_at: HerokuTime | None

    @classmethod
    def fields_of(
        cls, settings: Settings, transfer: PgTransfer, retention: Retention | None
    ) -> dict[str, Any]:
        keep = 0
        if transfer.kind == BACKUP and retention is not None:
            keep = retention.days if transfer.schedule_id is not None else retention.manual
        backup = transfer.kind == BACKUP
        return {
            "uuid": transfer.id,
            "num": transfer.num,
            "from_name": transfer.from_name,
            "from_type": transfer.from_type,
            "from_url": shown_url(transfer.source_url) if transfer.source_url else None,
            "to_name": transfer.to_name,
            "to_type": transfer.to_type,
            "to_url": transfer_url(settings, transfer.app_id, transfer.id) if backup else None,
            "options": transfer.options,
            "source_bytes": transfer.source_bytes,
            "processed_bytes": transfer.processed_bytes,
            "succeeded": transfer.succeeded,
            "warnings": transfer.warnings,
            "num_keep": keep,
            "schedule": ScheduleRef(uuid=transfer.schedule_id) if transfer.schedule_id else None,
            "created_at": transfer.created_at,
            "started_at": transfer.started_at,
            "updated_at": transfer.updated_at,
            "finished_at": transfer.finished_at,
            "canceled_at": transfer.canceled_at,
            "deleted_at": transfer.deleted_at,
            # Tenku removes a deleted backup's dump at once.
            "purged_at": transfer.deleted_at,
        }

    @classmethod
    def of(
        cls, settings: Settings, transfer: PgTransfer, retention: Retention | None
    ) -> TransferOut:
        return cls(**cls.fields_of(settings, transfer, retention))


class VerboseTransferOut(TransferOut):
    """`?verbose=true`: with the transfer's log lines."""

    logs: list[LogOut]

    @classmethod
    def of(
        cls, settings: Settings, transfer: PgTransfer, retention: Retention | None
    ) -> VerboseTransferOut:
        logs = [LogOut(**line) for line in transfer.logs]
        return cls(**cls.fields_of(settings, transfer, retention), logs=logs)


class PublicUrlOut(Out):
    url: str
    expires_at: HerokuTime


class ScheduleOut(Out):
    uuid: uuid.UUID
    name: str
    hour: int
    days: list[str]
    timezone: str
    retain_weeks: int
    retain_months: int
    created_at: HerokuTime
    updated_at: HerokuTime

    @classmethod
    def of(cls, schedule: PgTransferSchedule, retention: Retention) -> ScheduleOut:
        return cls(
            uuid=schedule.id,
            name=schedule.name,
            hour=schedule.hour,
            days=DAYS,
            timezone=schedule.timezone,
            retain_weeks=retention.weeks,
            retain_months=retention.months,
            created_at=schedule.created_at,
            updated_at=schedule.updated_at,
        )


class RestoreIn(In):
    backup_url: str
    extensions: list[str] | None = None


class CopyIn(In):
    from_name: str | None = None
    from_url: str | None = None
    to_name: str | None = None
    to_url: str | None = None


class ScheduleIn(In):
    # The CLI sends the hour as the string it matched ("02").
    hour: int | str
    timezone: str | None = None
    schedule_name: str | None = None
