"""Lock-outs after failed attempts: passwords, second-factor codes, reset tokens.

Each `Policy` counts one kind of failure per subject (an account, a client address): its
`limit`-th failure within `window` of the first locks the subject out for `lock`. Counts
live in the database (`auth_throttle`), so every worker sees the same lock at once, and are
written in short transactions of their own: a failure is counted even though the request
that found it is rolled back. The clock is injected (`Clock`), so tests move time instead
of waiting for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tenku.db.engine import Database
from tenku.db.models import AuthThrottle

# Rows whose window and lock are both over are forgotten after this.
FORGET_AFTER = timedelta(days=1)


class Clock:
    """The time, in UTC; `set` fixes it (tests), `set(None)` lets it run again."""

    def __init__(self) -> None:
        self._fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self._fixed if self._fixed is not None else datetime.now(UTC)

    def set(self, when: datetime | None) -> None:
        self._fixed = when

    def advance(self, by: timedelta) -> None:
        self._fixed = self() + by


@dataclass(frozen=True)
class Policy:
    name: str
    limit: int
    window: timedelta
    lock: timedelta
    # What the lock-out message calls the attempts.
    what: str = "failed attempts"

    def subject(self, key: str) -> str:
        # Keys are attacker-chosen (emails, addresses): stored by digest, one length.
        return f"{self.name}:{hashlib.sha256(key.encode()).hexdigest()}"


MINUTES_15 = timedelta(minutes=15)
HOUR = timedelta(hours=1)
# Password logins (and passwords asked again before sensitive changes), by email and by
# client address. The per-email lock holds off guessing at one account; the per-address
# one, guessing across accounts.
PASSWORD_ACCOUNT = Policy("password-account", 10, MINUTES_15, MINUTES_15, "failed logins")
PASSWORD_CLIENT = Policy("password-client", 30, MINUTES_15, MINUTES_15, "failed logins")
# Second-factor codes: five wrong ones lock the account's second factor for 15 minutes.
SECOND_FACTOR_ACCOUNT = Policy(
    "second-factor-account", 5, MINUTES_15, MINUTES_15, "wrong two-factor codes"
)
SECOND_FACTOR_CLIENT = Policy(
    "second-factor-client", 20, MINUTES_15, MINUTES_15, "wrong two-factor codes"
)
# Password reset finalizations with a token that is unknown, used or expired (per address),
# and reset requests (per address; per account they stop mail without saying so).
RESET_CLIENT = Policy("reset-client", 10, MINUTES_15, MINUTES_15, "password reset attempts")
RESET_ACCOUNT = Policy("reset-account", 5, HOUR, HOUR, "password reset requests")
# Text messages sent to one account's phone.
SMS_ACCOUNT = Policy("sms-account", 5, HOUR, HOUR, "text messages")

Hit = tuple[Policy, str]


class Throttle:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def locked(self, hits: Iterable[Hit]) -> LockedOut | None:
        """The latest lock among these subjects that has not ended, if any."""
        found = [(policy, policy.subject(key)) for policy, key in hits]
        if not found:
            return None
        now = self.clock()
        async with self.db.session(write=False) as s, s.begin():
            rows = (
                await s.execute(
                    select(AuthThrottle.subject, AuthThrottle.locked_until).where(
                        AuthThrottle.subject.in_([subject for _, subject in found]),
                        AuthThrottle.locked_until > now,
                    )
                )
            ).all()
        until = {subject: locked for subject, locked in rows if locked is not None}
        return _latest(now, [(p, until[s]) for p, s in found if s in until])

    async def fail(self, hits: Iterable[Hit]) -> LockedOut | None:
        """Count one failure against each subject: the lock this leaves, if any."""
        now = self.clock()
        locks: list[tuple[Policy, datetime]] = []
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        async with self.db.session(write=True) as s, s.begin():
            for policy, key in hits:
                subject = policy.subject(key)
                await s.execute(
                    insert(AuthThrottle)
                    .values(subject=subject, failures=0, since=now)
                    .on_conflict_do_nothing()
                )
                row = (
                    await s.execute(
                        select(AuthThrottle)
                        .where(AuthThrottle.subject == subject)
                        .with_for_update()
                    )
                ).scalar_one()
                if row.locked_until is not None and row.locked_until > now:
                    locks.append((policy, row.locked_until))
                    continue
                if row.locked_until is not None or row.since + policy.window <= now:
                    row.failures, row.since, row.locked_until = 0, now, None
                row.failures += 1
                if row.failures >= policy.limit:
                    row.failures, row.locked_until = 0, now + policy.lock
                    locks.append((policy, row.locked_until))
            await s.execute(
                delete(AuthThrottle).where(
                    AuthThrottle.since < now - FORGET_AFTER,
                    or_(AuthThrottle.locked_until.is_(None), AuthThrottle.locked_until < now),
                )
            )
        return _latest(now, locks)

    async def clear(self, hits: Iterable[Hit], lift: bool = False) -> None:
        """Forget the failures of these subjects (after a success); `lift` ends their
        locks too."""
        subjects = [policy.subject(key) for policy, key in hits]
        stmt = delete(AuthThrottle).where(AuthThrottle.subject.in_(subjects))
        if not lift:
            stmt = stmt.where(
                or_(
                    AuthThrottle.locked_until.is_(None),
                    AuthThrottle.locked_until <= self.clock(),
                )
            )
        async with self.db.session(write=True) as s, s.begin():
            await s.execute(stmt)


@dataclass(frozen=True)
class LockedOut:
    policy: Policy
    until: datetime
    seconds: int


def _latest(now: datetime, locks: list[tuple[Policy, datetime]]) -> LockedOut | None:
    if not locks:
        return None
    policy, until = max(locks, key=lambda lock: lock[1])
    return LockedOut(policy, until, max(1, int((until - now).total_seconds() + 0.999)))
