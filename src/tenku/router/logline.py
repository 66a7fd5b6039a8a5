"""The `heroku[router]` line: one key=value record per request, in Heroku's field order.

Log parsers (the CLI colouriser, add-ons, people's scripts) match these lines by
position and quoting, so the order, the quoted fields and the bare `key=` for values
that do not exist (a request that never reached a dyno) are kept exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tenku.router.codes import RouterError


def _quoted(value: str) -> str:
    # Backslash-escaped so a `"` in a path cannot end the field early.
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


# What _bare escapes; `\s` is str.isspace()'s set.
_SPLITS = re.compile(r'[\s"\\]')


def _bare(value: str) -> str:
    # Unquoted fields end at whitespace; anything that would split them is escaped.
    if not _SPLITS.search(value):
        return value
    return "".join(f"%{ord(c):02X}" if c.isspace() or c in '"\\' else c for c in value)


@dataclass(slots=True)
class RequestRecord:
    """What the line says about one request, filled in as the request progresses."""

    method: str
    path: str
    host: str
    request_id: str
    fwd: str
    protocol: str
    dyno: str | None = None
    connect_ms: int | None = None
    service_ms: int | None = None
    status: int | None = None
    # Body bytes that came from the dyno and were sent on to the client.
    bytes: int | None = None
    error: RouterError | None = None
    cause: str | None = None

    def line(self) -> str:
        error = self.error
        head = "at=info"
        if error is not None:
            head = f"at={error.at} code={error.code} desc={_quoted(error.desc)}"
            if error.sock:
                head = f"sock={error.sock} {head}"
            if self.cause:
                head = f"{head} cause={_quoted(self.cause)}"
        status, size = self.status, self.bytes
        return (
            f"{head} method={_bare(self.method)} path={_quoted(self.path)}"
            f" host={_bare(self.host)} request_id={_bare(self.request_id)}"
            f" fwd={_quoted(self.fwd)} dyno={_bare(self.dyno or '')}"
            f" connect={_ms(self.connect_ms)} service={_ms(self.service_ms)}"
            f" status={'' if status is None else status} bytes={'' if size is None else size}"
            f" protocol={self.protocol}"
        )


def _ms(value: int | None) -> str:
    return "" if value is None else f"{value}ms"
