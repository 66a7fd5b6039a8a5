"""The router's timeouts and limits, with Heroku's values as defaults.

One frozen value, so a router process of its own gets exactly the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass

# A request head may be large (cookies), but not unboundedly so.
MAX_REQUEST_HEAD = 64 * 1024
# Heroku drops requests whose request line or any header line exceeds 8 KB.
MAX_LINE = 8 * 1024
# A response head as a whole; single headers and status lines have limits of their own.
MAX_RESPONSE_HEAD = 1024 * 1024
# Heroku's HTTP restrictions on what a dyno answers (H25).
MAX_STATUS_LINE = 8 * 1024
MAX_RESPONSE_HEADER = 512 * 1024
MAX_SET_COOKIE = 8 * 1024
# Bytes of request a client may have sent ahead of the dyno taking them: a body arriving
# while its dyno is being picked, or pipelined requests behind one in flight. Past it the
# router stops reading from the client until the dyno catches up.
MAX_AHEAD = 64 * 1024
# What the router holds for a client that reads slower than its dyno writes (Heroku's
# response buffer is 1 MB per connection); past it, the dyno is not read from.
CLIENT_WRITE_BUFFER = 1024 * 1024
# An unread request body is read and dropped before answering with a page (so the
# connection can be reused) only while it is small and arrives promptly.
DRAIN_LIMIT = 1024 * 1024
DRAIN_TIME = 2.0


@dataclass(frozen=True)
class RouterOptions:
    connect_timeout: float = 5.0
    # From the end of the request to the dyno's first byte (H12).
    first_byte_timeout: float = 30.0
    # Without a byte either way once a request is under way (H15, H28), and between requests.
    idle_timeout: float = 55.0
    # How long a request is held while the app's web dynos boot (H20).
    boot_wait: float = 75.0
    # Requests in flight to one dyno from one router process; more wait in its queue.
    dyno_concurrency: int = 50
    # The queue: at most this many waiting requests per web dyno of the app (H11 beyond).
    dyno_backlog: int = 50
    # Requests (open WebSockets included) one app may have in one router process (H22).
    app_connections: int = 10_000
    # An idle connection to a dyno is kept this long for the next request. Shorter than
    # the keep-alive timeouts of common app servers (2 s and up), so the dyno rarely
    # closes one just as the router reuses it.
    pool_idle: float = 1.5
