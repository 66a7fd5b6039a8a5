from __future__ import annotations

import uuid

from tenku.resources.common import Out


class ResultBuild(Out):
    id: uuid.UUID
    status: str
    output_stream_url: str


class ResultLine(Out):
    line: str
    stream: str


class BuildResultOut(Out):
    build: ResultBuild
    # null while the build is still running.
    exit_code: int | None
    lines: list[ResultLine]
