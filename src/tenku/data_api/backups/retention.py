"""How many backups a database keeps, by plan, as Heroku documents it.

Manual backups: the newest `manual` (Hobby Dev 2, Essential and Hobby Basic 5, Standard 25,
Premium and above 50); a capture beyond that expires the oldest one once it has succeeded.
Scheduled backups: one a day for the last 7 days, one a week for `weeks` weeks (1 on
Essential, 4 on Standard, 8 on Premium) and one a month for `months` months (12 on
Premium). A plan says so in its catalogue settings (`"backups": {"manual", "weeks",
"months"}`); a plan that does not keeps what Essential keeps.

Periods are counted among those that hold a backup, so that a schedule that stopped for a
while never loses its last backups to the calendar; the newest backup of each period is
the one kept. Failed backups hold no dump: the newest `manual` (or 7) of them stay listed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DAYS = 7


@dataclass(frozen=True)
class Retention:
    manual: int = 5
    weeks: int = 1
    months: int = 0
    days: int = DAYS

    @classmethod
    def of(cls, settings: Mapping[str, Any] | None) -> Retention:
        """From a plan's settings (`backups`); the defaults for anything missing or odd."""
        raw = (settings or {}).get("backups")
        if not isinstance(raw, Mapping):
            return cls()
        default = cls()

        def count(name: str) -> int:
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
            fallback: int = getattr(default, name)
            return fallback

        return cls(manual=count("manual"), weeks=count("weeks"), months=count("months"))


@dataclass(frozen=True)
class Kept:
    """A finished backup, as retention sees it."""

    id: uuid.UUID
    created_at: datetime
    succeeded: bool


def _newest_per_period(
    backups: list[Kept], period: Callable[[datetime], Hashable], periods: int
) -> set[uuid.UUID]:
    kept: dict[Hashable, uuid.UUID] = {}
    for backup in backups:
        key = period(backup.created_at)
        if key not in kept:
            if len(kept) == periods:
                break
            kept[key] = backup.id
    return set(kept.values())


def _newest(backups: Iterable[Kept]) -> list[Kept]:
    return sorted(backups, key=lambda b: (b.created_at, b.id), reverse=True)


def expired_manual(backups: Iterable[Kept], retention: Retention) -> set[uuid.UUID]:
    """The manual backups beyond the plan's limit: the oldest ones."""
    ordered = _newest(backups)
    good = [b for b in ordered if b.succeeded]
    failed = [b for b in ordered if not b.succeeded]
    return {b.id for b in good[retention.manual :] + failed[retention.manual :]}


def expired_scheduled(backups: Iterable[Kept], retention: Retention) -> set[uuid.UUID]:
    """The scheduled backups no daily, weekly or monthly slot keeps."""
    ordered = _newest(backups)
    good = [b for b in ordered if b.succeeded]
    failed = [b for b in ordered if not b.succeeded]
    kept = _newest_per_period(good, lambda t: t.date(), retention.days)
    kept |= _newest_per_period(good, lambda t: t.isocalendar()[:2], retention.weeks)
    kept |= _newest_per_period(good, lambda t: (t.year, t.month), retention.months)
    return {b.id for b in good if b.id not in kept} | {b.id for b in failed[retention.days :]}
