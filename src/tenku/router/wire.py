"""HTTP/1.1 as bytes: the heads and body framing the router writes on either side.

httptools parses what arrives; what leaves is written here. The router frames each side
on its own, so a body that came chunked may leave with a Content-Length's worth of plain
bytes or chunked again, as the receiving side needs.
"""

from __future__ import annotations

import http

from tenku.router.headers import Header

# Body bytes as they are passed on: a read of its own, or a view of the read buffer.
Chunk = bytes | memoryview

CRLF = b"\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def head(start_line: bytes, headers: list[Header], tail: bytes = b"") -> bytes:
    """A request or status line and its headers, ending with the blank line; `tail` is
    more header lines, already formatted (each ending with CRLF)."""
    lines = b"".join([name + b": " + value + CRLF for name, value in headers])
    return start_line + CRLF + lines + tail + CRLF


def status_line(status: int, phrase: bytes) -> bytes:
    return b"HTTP/1.1 %d %s" % (status, phrase)


def chunk(data: Chunk) -> list[Chunk]:
    """`data` as one chunk of a chunked body, for writelines (no copy of `data`)."""
    return [b"%X\r\n" % len(data), data, CRLF]


def page_headers(body: bytes) -> list[Header]:
    return [
        (b"Content-Type", b"text/html; charset=utf-8"),
        (b"Cache-Control", b"no-cache, no-store"),
        (b"Content-Length", str(len(body)).encode()),
    ]


def page(status: int, body: bytes, *, close: bool, with_body: bool = True) -> bytes:
    """One of the router's own HTML answers, whole."""
    headers = page_headers(body)
    if close:
        headers.append((b"Connection", b"close"))
    data = head(status_line(status, reason(status).encode()), headers)
    return data + body if with_body else data
