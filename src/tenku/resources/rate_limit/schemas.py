from __future__ import annotations

from tenku.resources.common import Out


class RateLimitOut(Out):
    remaining: int
