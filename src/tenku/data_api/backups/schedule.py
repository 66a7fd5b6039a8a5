"""When a daily backup schedule is due: its hour, on the wall clock of its time zone."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str) -> ZoneInfo | None:
    """The IANA time zone `name` names (None for none)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def latest_due(hour: int, where: ZoneInfo, now: datetime) -> datetime:
    """The last moment, at or before `now`, that the clock in `where` read `hour`:00 (UTC).

    On a day a clock change skips that hour, the moment is the one the skipped hour maps to
    (an hour later on the wall clock), so each local day has exactly one.
    """
    local = now.astimezone(where)
    today = datetime.combine(local.date(), time(hour), tzinfo=where).astimezone(UTC)
    if today <= now:
        return today
    yesterday = local.date() - timedelta(days=1)
    return datetime.combine(yesterday, time(hour), tzinfo=where).astimezone(UTC)


def due(
    hour: int, where: ZoneInfo, created_at: datetime, last_due_at: datetime | None, now: datetime
) -> datetime | None:
    """The due time a backup is owed for now, if any: the latest one since the schedule was
    made that has not had its backup yet. A runtime that was away at the hour makes it late,
    once, however many days it missed."""
    moment = latest_due(hour, where, now)
    if moment < created_at:
        return None
    if last_due_at is not None and last_due_at >= moment:
        return None
    return moment
