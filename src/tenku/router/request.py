"""A request as the client side parsed it: its head, and its body as the bytes arrive.

The body has two consumers over its life: first a buffer (while the router looks the app
up and picks a dyno), then whatever forwards it (the dyno's connection, or a drain that
drops it before an error page). The client side only ever calls `feed` and `end`.
"""

from __future__ import annotations

from collections.abc import Callable

from tenku.router.headers import Fields

# Methods a request may be sent again for when a reused dyno connection turns out closed.
IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


class Request:
    __slots__ = (
        "chunked",
        "complete",
        "content_length",
        "expects_continue",
        "fields",
        "keep_alive",
        "method",
        "on_end",
        "pending",
        "pending_bytes",
        "received",
        "received_at",
        "sink",
        "started",
        "target",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: bytes,
        target: bytes,
        fields: Fields,
        version: str,
        *,
        upgrade: bool,
        received_at: float,
        started: float,
    ) -> None:
        self.method = method
        self.target = target
        self.fields = fields
        self.version = version
        self.upgrade = upgrade
        # Wall clock (X-Request-Start) and loop clock (durations) at arrival.
        self.received_at = received_at
        self.started = started
        self.keep_alive = (
            version == "1.1" and not upgrade and b"close" not in fields.tokens(b"connection")
        )
        self.chunked = b"chunked" in fields.tokens(b"transfer-encoding")
        lengths = fields.values(b"content-length")
        self.content_length = int(lengths[0]) if lengths and not self.chunked else 0
        self.expects_continue = b"100-continue" in fields.tokens(b"expect")
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.received = 0
        self.complete = False
        self.sink: Callable[[bytes], None] | None = None
        self.on_end: Callable[[], None] | None = None

    @property
    def has_body(self) -> bool:
        return self.chunked or self.content_length > 0

    @property
    def resendable(self) -> bool:
        """Whether the whole request can go to a dyno again: idempotent, with no body."""
        return self.method in IDEMPOTENT and not self.has_body

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self.sink is not None:
            self.sink(data)
        else:
            self.pending.append(data)
            self.pending_bytes += len(data)

    def end(self) -> None:
        self.complete = True
        if self.on_end is not None:
            self.on_end()

    def take_pending(self) -> list[bytes]:
        pending, self.pending = self.pending, []
        self.pending_bytes = 0
        return pending
