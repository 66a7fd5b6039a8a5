"""Who each token belongs to, kept in memory so a request needs no query to know.

What is kept is dropped whenever the auth generation moves (tenku/db/generation.py):
at once for a change made by this process, within `TRUSTED_FOR` seconds for one made by
another worker or the CLI. Unknown tokens are not kept: a token minted a moment ago
must work at once, and a new row moves nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from tenku.db import generation
from tenku.db.engine import Database
from tenku.db.models import Account, Authorization
from tenku.security import token_digest

# Enough for every token of a busy installation; beyond it, the oldest half goes.
MAX_KEPT = 10_000


@dataclass(frozen=True)
class Holder:
    """A token's rows, detached: each request merges them into its own session."""

    account: Account
    authorization: Authorization


class TokenCache:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._kept: dict[str, Holder] = {}
        self._generation: int | None = None
        self._local = generation.local_changes()
        self._checked = 0.0
        # The read of the generation under way, if any.
        self._checking: asyncio.Task[None] | None = None

    async def holder(self, token: str) -> Holder | None:
        """The token's account and authorization, or None for no valid token."""
        await self._fresh()
        digest = token_digest(token)
        found = self._kept.get(digest)
        if found is None:
            found = await self._load(digest)
            if found is None:
                return None
        expires = found.authorization.access_token_expires_at
        if expires is not None and expires <= datetime.now(UTC):
            return None
        return found

    async def _load(self, digest: str) -> Holder | None:
        seen = self._generation
        async with self.db.session(write=False) as db, db.begin():
            row = (
                await db.execute(
                    select(Authorization, Account)
                    .join(Account, Account.id == Authorization.account_id)
                    .where(Authorization.access_token_hash == digest)
                )
            ).first()
        if row is None:
            return None
        found = Holder(row[1], row[0])
        # Rows read across a change of generation may be older than it: used, not kept.
        if seen == self._generation and self._local == generation.local_changes():
            if len(self._kept) >= MAX_KEPT:
                for key in list(self._kept)[: MAX_KEPT // 2]:
                    del self._kept[key]
            self._kept[digest] = found
        return found

    async def _fresh(self) -> None:
        local = generation.local_changes()
        if local != self._local:
            self._local = local
            self._kept.clear()
        age = time.monotonic() - self._checked
        if age < generation.CHECK_EVERY:
            return
        if self._checking is None:
            self._checking = asyncio.create_task(self._check(), name="auth-generation")
            self._checking.add_done_callback(_retrieved)
        if age < generation.TRUSTED_FOR:
            # Requests go on with what is kept while one read runs beside them: under
            # load a read waits its turn behind every request in flight, and all of them
            # waiting for it stalled the worker for as long.
            return
        await asyncio.shield(self._checking)

    async def _check(self) -> None:
        try:
            started = time.monotonic()
            async with self.db.session(write=False) as db, db.begin():
                current = await generation.current(db)
            if current != self._generation:
                self._generation = current
                self._kept.clear()
            self._checked = started
        finally:
            self._checking = None


def _retrieved(task: asyncio.Task[None]) -> None:
    # A failed read fails the requests that waited for it; one nobody waited for is
    # simply read again by the next request.
    if not task.cancelled():
        task.exception()
