"""Build output, kept in the database so that every API worker can serve it live.

The runtime appends lines in batches (one row per run of lines from one stream, written
a few times a second), and numbers them as the plain-text stream does: byte offsets for
`Range: bytes=N-`, line numbers for `Last-Event-Id`. Readers poll for rows past the last
one they sent; a build's output is complete once the build is no longer pending, because
the last rows are written in the same transaction that ends the build.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

from tenku.db.engine import Database
from tenku.db.models import BuildOutput
from tenku.loops import wait_event
from tenku.resources.build.output import last_row

log = logging.getLogger("tenku.runtime")

STDOUT = "STDOUT"
STDERR = "STDERR"
FLUSH_INTERVAL = 0.2
FLUSH_BYTES = 32 * 1024
# One line never grows past this; longer output is cut into several lines.
MAX_LINE = 16 * 1024


@dataclass
class Line:
    stream: str
    text: str  # ends with "\n"


def split_lines(text: str) -> list[str]:
    """`text` as lines that each end with a newline, none longer than MAX_LINE."""
    lines = []
    for raw in text.splitlines():
        rest = raw
        while len(rest) > MAX_LINE:
            lines.append(rest[:MAX_LINE] + "\n")
            rest = rest[MAX_LINE:]
        lines.append(rest + "\n")
    return lines


class OutputWriter:
    """Collects a build's output lines and writes them out in batches."""

    def __init__(self, db: Database, build_id: uuid.UUID) -> None:
        self.db = db
        self.build_id = build_id
        self.seq = 0
        self.lines = 0
        self.offset = 0
        self._pending: list[Line] = []
        self._pending_bytes = 0
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closing = False
        # The last lines, for a failure summary without reading the database back.
        self.recent: list[str] = []

    async def resume(self) -> None:
        """Continue numbering after output already stored (a build picked up again)."""
        async with self.db.session(write=False) as db:
            last = await last_row(db, self.build_id)
        if last is not None:
            self.seq = last.seq
            self.lines = last.first_line + last.line_count - 1
            self.offset = last.offset + last.size

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"build-output-{self.build_id}")

    def write(self, stream: str, text: str) -> None:
        """Add `text` as one or more lines (an empty string is one empty line)."""
        if not text.endswith("\n"):
            text += "\n"
        for line in split_lines(text):
            self._pending.append(Line(stream, line))
            self._pending_bytes += len(line)
            self.recent = [*self.recent[-19:], line]
        if self._pending_bytes >= FLUSH_BYTES:
            self._kick.set()

    def out(self, text: str) -> None:
        self.write(STDOUT, text)

    def err(self, text: str) -> None:
        self.write(STDERR, text)

    def take_rows(self) -> list[BuildOutput]:
        """The pending lines as rows, numbered; the caller adds them to its transaction."""
        rows: list[BuildOutput] = []
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        for line in pending:
            data = line.text
            size = len(data.encode())
            last = rows[-1] if rows else None
            if last is not None and last.stream == line.stream and last.size < FLUSH_BYTES:
                last.text += data
                last.line_count += 1
                last.size += size
            else:
                self.seq += 1
                last = BuildOutput(
                    build_id=self.build_id,
                    seq=self.seq,
                    stream=line.stream,
                    first_line=self.lines + 1,
                    line_count=1,
                    offset=self.offset,
                    size=size,
                    text=data,
                )
                rows.append(last)
            self.lines += 1
            self.offset += size
        return rows

    def snapshot(self) -> tuple[int, int, int, list[Line]]:
        return self.seq, self.lines, self.offset, list(self._pending)

    def restore(self, snapshot: tuple[int, int, int, list[Line]]) -> None:
        """Undo `take_rows` whose rows did not commit, keeping lines written since."""
        self.seq, self.lines, self.offset, pending = snapshot
        self._pending = pending + self._pending
        self._pending_bytes = sum(len(line.text) for line in self._pending)

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            snapshot = self.snapshot()
            rows = self.take_rows()
            try:
                async with self.db.session(write=True) as db:
                    db.add_all(rows)
                    await db.commit()
            except Exception:
                # Keep the lines for the next attempt rather than lose them.
                log.exception("could not store output of build %s", self.build_id)
                self.restore(snapshot)

    async def _run(self) -> None:
        while not self._closing:
            await wait_event(self._kick, FLUSH_INTERVAL)
            self._kick.clear()
            await self.flush()

    async def stop(self) -> None:
        """Stop the background flushing after its current batch; later lines stay pending
        for `take_rows`, so the build's last lines commit together with its outcome."""
        if self._task is not None:
            self._closing = True
            self._kick.set()
            await asyncio.shield(self._task)
            self._task = None
