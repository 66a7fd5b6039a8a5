"""The `heroku[router]` line: one key=value record per request, in Heroku's field order.

Log parsers (the CLI colouriser, add-ons, people's scripts) match these lines by
position and quoting, so the order, the quoted fields and the bare `key=` for values
that do not exist (a request that never reached a dyno) are kept exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenku.router.codes import RouterError


def _quoted(value: str) -> str:
    # Backslash-escaped so a `"` in a path cannot end the field early.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _bare(value: str) -> str:
    # Unquoted fields end at whitespace; anything that would split them is escaped.
    return "".join(f"%{ord(c):02X}" if c.isspace() or c in '"\\' else c for c in value)


@dataclass
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
        fields: list[str] = []
        error = self.error
        if error is not None and error.sock:
            fields.append(f"sock={error.sock}")
        fields.append(f"at={error.at if error else 'info'}")
        if error is not None:
            fields.append(f"code={error.code}")
            fields.append(f"desc={_quoted(error.desc)}")
            if self.cause:
                fields.append(f"cause={_quoted(self.cause)}")
        fields += [
            f"method={_bare(self.method)}",
            f"path={_quoted(self.path)}",
            f"host={_bare(self.host)}",
            f"request_id={_bare(self.request_id)}",
            f"fwd={_quoted(self.fwd)}",
            f"dyno={_bare(self.dyno or '')}",
            f"connect={_ms(self.connect_ms)}",
            f"service={_ms(self.service_ms)}",
            f"status={'' if self.status is None else self.status}",
            f"bytes={'' if self.bytes is None else self.bytes}",
            f"protocol={self.protocol}",
        ]
        return " ".join(fields)


def _ms(value: int | None) -> str:
    return "" if value is None else f"{value}ms"
