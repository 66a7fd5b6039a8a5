from __future__ import annotations

from tenku.resources.common import Out


class SourceBlobOut(Out):
    get_url: str
    put_url: str


class SourceOut(Out):
    source_blob: SourceBlobOut
