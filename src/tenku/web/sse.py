"""Streaming answers: plain text or Server-Sent Events, chosen by the client's Accept."""

from __future__ import annotations

from starlette.requests import Request

# A comment line this often keeps idle proxies and clients from closing the stream.
KEEPALIVE = 15.0
# Proxies must pass each line on as it comes, and nothing may be served from a cache.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def wants_events(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def last_event_id(request: Request) -> int | None:
    raw = (request.headers.get("last-event-id") or "").strip()
    return int(raw) if raw.isdigit() else None


def event(number: int, line: str) -> bytes:
    """One server-sent event per line, so a client resuming names the last line it saw."""
    return f"id: {number}\ndata: {line}\n\n".encode()
