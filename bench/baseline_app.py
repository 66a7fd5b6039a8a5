"""The floor for the API benchmark: a bare ASGI app that replays recorded answers.

The benchmark records what Tenku answered to each measured request (status,
headers, body), writes it to a JSON file and serves this app with uvicorn the
way Tenku is served. Every request is answered from memory with the same bytes,
so the gap between the two servers is what Tenku does per request: routing,
auth, rate limiting, database work and serialization.

    TENKU_BENCH_RESPONSES=answers.json uvicorn --factory baseline_app:create

The file holds {"responses": [{"method", "path", "status", "headers": [[name,
value], ...], "body": base64}, ...]}; requests are matched on method and path only.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESPONSES_ENV = "TENKU_BENCH_RESPONSES"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# uvicorn adds these itself, or they depend on the body: never replay them.
SERVER_HEADERS = frozenset({"date", "server", "content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def answer(status: int, headers: list[tuple[str, str]], body: bytes) -> Answer:
    kept = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in headers
        if name.lower() not in SERVER_HEADERS
    ]
    kept.append((b"content-length", str(len(body)).encode()))
    return Answer(status, kept, body)


NOT_FOUND = answer(
    404,
    [("content-type", "application/json")],
    b'{"id":"not_found","message":"Not found: no such endpoint."}',
)


def load(path: Path) -> dict[tuple[str, str], Answer]:
    data = json.loads(path.read_text())
    return {
        (r["method"], r["path"]): answer(
            r["status"], [(k, v) for k, v in r["headers"]], base64.b64decode(r["body"])
        )
        for r in data["responses"]
    }


class Replay:
    def __init__(self, answers: dict[tuple[str, str], Answer]) -> None:
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        # Read the whole request body first, as Tenku must for a PATCH.
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        found = self.answers.get((scope["method"], scope["path"]), NOT_FOUND)
        await send(
            {"type": "http.response.start", "status": found.status, "headers": found.headers}
        )
        await send({"type": "http.response.body", "body": found.body})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


def create() -> Replay:
    return Replay(load(Path(os.environ[RESPONSES_ENV])))
