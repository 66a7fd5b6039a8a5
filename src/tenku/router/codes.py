"""The router's H error codes: the one mapping from a failure to status, level and text.

Every failure path names one of these constants, so the status a client sees and the
`code=`/`desc=` it is logged with can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RouterError:
    code: str
    desc: str
    status: int
    at: str = "error"
    # Which socket went away, for the `sock=` field that leads H18/H27 lines.
    sock: str | None = None
    # False when there is nobody to answer (the client left) or nothing sensible to
    # answer with (the client stopped sending): the connection is just closed.
    respond: bool = True


H10 = RouterError("H10", "App crashed", 503)
H11 = RouterError("H11", "Backlog too deep", 503)
H12 = RouterError("H12", "Request timeout", 503)
H13 = RouterError("H13", "Connection closed without response", 503)
H14 = RouterError("H14", "No web dynos running", 503)
H15 = RouterError("H15", "Idle connection", 503)
H17 = RouterError("H17", "Poorly formatted HTTP response", 503)
H18 = RouterError("H18", "Server Request Interrupted", 503, sock="backend")
H19 = RouterError("H19", "Backend connection timeout", 503)
H20 = RouterError("H20", "App boot timeout", 503)
H21 = RouterError("H21", "Backend connection refused", 503)
H22 = RouterError("H22", "Connection limit reached", 503)
# Responses the router will not pass on (Heroku's HTTP restrictions).
H25_STATUS_LINE = RouterError("H25", "HTTP restriction: oversized status line", 502)
H25_HEADER = RouterError("H25", "HTTP restriction: oversized header", 502)
H25_COOKIE = RouterError("H25", "HTTP restriction: oversized cookie", 502)
H25_CONTENT_LENGTH = RouterError("H25", "HTTP restriction: invalid content length", 502)
# A request head over the router's limits, for an app it names (the client gets 431).
H25_REQUEST_HEADER = RouterError("H25", "HTTP restriction: oversized request header", 431)
H26 = RouterError("H26", "Request Error", 400)
H26_EXPECT = RouterError("H26", "Request Error", 417)
H27 = RouterError(
    "H27", "Client Request Interrupted", 499, at="warning", sock="client", respond=False
)
H28 = RouterError("H28", "Client Connection Idle", 499, at="warning", respond=False)
H80 = RouterError("H80", "Maintenance mode", 503, at="info")
H81 = RouterError("H81", "Blank app", 502, at="info")
H99 = RouterError("H99", "Platform error", 503)
