"""output_stream_url: plain text resumable with Range, SSE resumable with Last-Event-Id.

The output is written here the way the runtime writes it (OutputWriter rows), so these
tests pin the stream protocol without running a build; tests/runtime streams real ones.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tenku.db.base import utcnow
from tenku.db.engine import Database
from tenku.db.models import Build
from tenku.runtime.output import OutputWriter
from tests.conftest import ApiClient, User

SOURCE = {"url": "https://example.com/source.tgz"}
LINES = ["-----> Python app detected", "       Collecting six", "", "caf\u00e9 \u2713", "done"]


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


async def new_build(user: User, app: str) -> dict[str, str]:
    r = await user.post(f"/apps/{app}/builds", json={"source_blob": SOURCE})
    assert r.status_code == 201
    data: dict[str, str] = r.json()
    return data


async def write(
    database: Database, build_id: str, lines: list[str], finish: str | None = None
) -> None:
    out = OutputWriter(database, uuid.UUID(build_id))
    await out.resume()
    for line in lines:
        out.write("STDERR" if line == LINES[1] else "STDOUT", line)
    async with database.session(write=True) as db:
        db.add_all(out.take_rows())
        if finish is not None:
            build = await db.get(Build, uuid.UUID(build_id))
            assert build is not None
            build.status = finish
            build.exit_code = 0 if finish == "succeeded" else 1
            build.finished_at = utcnow()
        await db.commit()


@pytest.fixture
async def finished(alice: User, api: ApiClient) -> dict[str, str]:
    await alice.create_app("stream-app")
    build = await new_build(alice, "stream-app")
    await write(api.database, build["id"], LINES[:2])
    await write(api.database, build["id"], LINES[2:], finish="succeeded")
    return build


async def test_plain_text_needs_no_credentials_nor_version(
    finished: dict[str, str], api: ApiClient
) -> None:
    r = await api.http.get(path_of(finished["output_stream_url"]))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == "".join(line + "\n" for line in LINES)


async def test_plain_text_resumes_with_range(finished: dict[str, str], api: ApiClient) -> None:
    url = path_of(finished["output_stream_url"])
    whole = (await api.http.get(url)).content
    for start in (1, 10, len(LINES[0]) + 1, len(whole) - 1):
        r = await api.http.get(url, headers={"Range": f"bytes={start}-"})
        assert r.status_code == 206
        assert r.content == whole[start:]
        assert r.headers["content-range"] == f"bytes {start}-{len(whole) - 1}/{len(whole)}"
    r = await api.http.get(url, headers={"Range": f"bytes={len(whole)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(whole)}"


async def test_event_stream_resumes_with_last_event_id(
    finished: dict[str, str], api: ApiClient
) -> None:
    url = path_of(finished["output_stream_url"])
    r = await api.http.get(url, headers={"Accept": "text/event-stream"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_events(r.text)
    assert events == [(str(i), line) for i, line in enumerate(LINES, 1)]
    r = await api.http.get(url, headers={"Accept": "text/event-stream", "Last-Event-Id": "3"})
    assert parse_events(r.text) == [("4", LINES[3]), ("5", LINES[4])]
    # Everything delivered and the build over: 204 stops EventSource from reconnecting.
    r = await api.http.get(url, headers={"Accept": "text/event-stream", "Last-Event-Id": "5"})
    assert r.status_code == 204


async def test_result_lists_lines_with_their_streams(finished: dict[str, str], alice: User) -> None:
    r = await alice.get(f"/apps/stream-app/builds/{finished['id']}/result")
    assert r.status_code == 200
    result = r.json()
    assert result["exit_code"] == 0
    assert result["build"] == {
        "id": finished["id"],
        "status": "succeeded",
        "output_stream_url": finished["output_stream_url"],
    }
    assert result["lines"] == [
        {"stream": "STDERR" if i == 1 else "STDOUT", "line": line + "\n"}
        for i, line in enumerate(LINES)
    ]


async def test_live_stream_follows_until_the_build_ends(alice: User, api: ApiClient) -> None:
    await alice.create_app("stream-live")
    build = await new_build(alice, "stream-live")
    await write(api.database, build["id"], ["first"])

    async def later() -> None:
        await asyncio.sleep(0.5)
        await write(api.database, build["id"], ["second"])
        await asyncio.sleep(0.5)
        await write(api.database, build["id"], ["third"], finish="failed")

    writer = asyncio.create_task(later())
    url = path_of(build["output_stream_url"])
    plain, events = await asyncio.gather(
        api.http.get(url), api.http.get(url, headers={"Accept": "text/event-stream"})
    )
    await writer
    assert plain.text == "first\nsecond\nthird\n"
    assert [line for _, line in parse_events(events.text)] == ["first", "second", "third"]


async def test_wrong_token_or_build_is_404(finished: dict[str, str], api: ApiClient) -> None:
    url = path_of(finished["output_stream_url"])
    head, _, token = url.rpartition("/")
    forged = head + "/" + ("0" if token[0] != "0" else "1") + token[1:]
    assert (await api.http.get(forged)).status_code == 404
    other = url.replace(finished["id"], str(uuid.uuid4()))
    assert (await api.http.get(other)).status_code == 404
    assert (await api.http.get("/streams/builds/nope/abc")).status_code == 404


def parse_events(text: str) -> list[tuple[str, str]]:
    events = []
    for block in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1) if ": " in line else (line.rstrip(":"), "")
            for line in block.splitlines()
            if line and not line.startswith(":")
        )
        if "data" in fields:
            events.append((fields["id"], fields["data"]))
    return events


async def test_a_stream_url_dies_with_its_readers_access(
    finished: dict[str, str], api: ApiClient, alice: User, bob: User
) -> None:
    r = await alice.post("/apps/stream-app/collaborators", json={"user": bob.email})
    assert r.status_code == 201, r.text
    bobs = path_of(
        (await bob.get(f"/apps/stream-app/builds/{finished['id']}")).json()["output_stream_url"]
    )
    assert (await api.http.get(bobs)).status_code == 200
    assert (await alice.delete(f"/apps/stream-app/collaborators/{bob.email}")).status_code == 200
    assert (await api.http.get(bobs)).status_code == 404
    # Alice's URL for the same build still works: it is hers.
    assert (await api.http.get(path_of(finished["output_stream_url"]))).status_code == 200
    # Another build's URL path with Alice's token is not a way into it either.
    token = path_of(finished["output_stream_url"]).rpartition("/")[2]
    other = await new_build(alice, "stream-app")
    assert (await api.http.get(f"/streams/builds/{other['id']}/{token}")).status_code == 404
