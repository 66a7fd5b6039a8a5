from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
from sqlalchemy.dialects import postgresql, sqlite

from tenku.db.models import App
from tenku.web.wire import WireList, converters, fragment, processor


def test_sqlite_values_become_the_wire_forms() -> None:
    wire = converters(sqlite.dialect())
    uid = uuid.uuid4()
    assert wire.uuid(uid.hex) == str(uid)
    assert wire.timestamp("2026-12-03 22:29:43.128105") == "2026-12-03T22:29:43Z"
    assert wire.timestamp("2026-12-03 22:29:43") == "2026-12-03T22:29:43Z"
    assert [wire.boolean(v) for v in (0, 1, None)] == [False, True, None]
    assert wire.uuid(None) is None
    assert wire.timestamp(None) is None


def test_native_values_are_written_in_utc_and_whole_seconds() -> None:
    wire = converters(postgresql.dialect())
    uid = uuid.uuid4()
    east = datetime(2026, 12, 4, 1, 29, 43, 999999, tzinfo=timezone(timedelta(hours=3)))
    utc = datetime(2026, 12, 3, 22, 29, 43, 5, tzinfo=UTC)
    body = WireList([{"a": wire.timestamp(east), "b": wire.timestamp(utc), "c": uid}])
    assert orjson.loads(body.response().body) == [
        {"a": "2026-12-03T22:29:43Z", "b": "2026-12-03T22:29:43Z", "c": str(uid)}
    ]


def test_processor_turns_an_unprocessed_value_into_the_processed_one() -> None:
    uid = uuid.uuid4()
    assert processor(App.id, sqlite.dialect())(uid.hex) == uid
    stamp = processor(App.updated_at, sqlite.dialect())("2026-12-03 22:29:43.128105")
    assert stamp == datetime(2026, 12, 3, 22, 29, 43, 128105, tzinfo=UTC)
    assert processor(App.name, sqlite.dialect())("x") == "x"


def test_a_fragment_is_written_as_its_body_is() -> None:
    """A body shared by a page's items, written once, reads back as the body written with
    each item (UTC, whole seconds, UUIDs as text), and leaves the items untracked by the
    garbage collector."""
    shared = {"id": uuid.uuid4(), "at": datetime(2026, 12, 4, 1, 2, 3, 456, tzinfo=UTC)}
    once = fragment(shared)
    written = WireList([{"name": "a", "owner": once}, {"name": "b", "owner": once}])
    inline = WireList([{"name": "a", "owner": shared}, {"name": "b", "owner": shared}])
    assert written.response().body == inline.response().body
    assert orjson.loads(written.response().body)[0]["owner"]["at"] == "2026-12-04T01:02:03Z"
    assert not gc.is_tracked(written.items[0])
