"""`Out.trusted` builds the same response models as pydantic's `model_construct`."""

from __future__ import annotations

import importlib
import json
import pkgutil
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel

import tenku.resources
from tenku.config import Settings
from tenku.db.models import App
from tenku.resources.app.schemas import CEDAR, AppOut
from tenku.resources.common import AccountRef, Out, Ref
from tenku.resources.organization_app.schemas import OrganizationAppOut, TeamRef
from tenku.web.render import zulu


def _all_out_models() -> list[type[Out]]:
    for info in pkgutil.walk_packages(tenku.resources.__path__, "tenku.resources."):
        if info.name.endswith(".schemas"):
            importlib.import_module(info.name)
    found: list[type[Out]] = []
    todo: list[type[Out]] = [Out]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _app_values() -> dict[str, object]:
    now = datetime(2026, 12, 3, 14, 57, 25, 123456, tzinfo=UTC)
    ref = Ref.trusted(id=uuid.uuid4(), name="heroku-24")
    return {
        "archived_at": None,
        "buildpack_provided_description": "Python",
        "build_stack": ref,
        "created_at": now,
        "git_url": "https://git.example.com/some-app.git",
        "id": uuid.uuid4(),
        "maintenance": False,
        "name": "some-app",
        "organization": None,
        "owner": AccountRef.trusted(email="a@example.com", id=uuid.uuid4()),
        "region": Ref.trusted(id=uuid.uuid4(), name="us"),
        "released_at": now - timedelta(days=1),
        "repo_size": None,
        "slug_size": 1234,
        "space": None,
        "stack": ref,
        "updated_at": now,
        "web_url": "https://some-app.example.com/",
    }


@pytest.mark.parametrize("model", [AppOut, OrganizationAppOut])
def test_trusted_equals_model_construct(model: type[Out]) -> None:
    values = _app_values()
    if model is OrganizationAppOut:
        values |= {
            "joined": True,
            "locked": False,
            "team": TeamRef.trusted(id=uuid.uuid4(), name="t"),
        }
    trusted = model.trusted(**values)
    constructed = model.model_construct(**values)
    assert trusted == constructed
    assert trusted.model_fields_set == constructed.model_fields_set
    assert trusted.model_dump_json() == constructed.model_dump_json()
    # The defaults filled in are the model's own.
    if model is AppOut:
        assert trusted.generation == CEDAR
        assert trusted.create_status == "complete"


def test_response_models_have_no_default_factories() -> None:
    # `trusted` fills in plain defaults only: a factory's default would be missing.
    models: list[type[BaseModel]] = _all_out_models()
    assert len(models) > 50
    factories = [
        f"{m.__module__}.{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if field.default_factory is not None
    ]
    assert factories == []


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 12, 3, 14, 57, 25, 999999, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_timestamps_are_utc_whole_seconds(value: datetime) -> None:
    assert zulu(value) == value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_app_body_has_utc_whole_second_timestamps() -> None:
    when = datetime(2026, 12, 3, 9, 57, 25, 654321, tzinfo=timezone(timedelta(hours=-5)))
    app = App(
        id=uuid.uuid4(),
        name="some-app",
        region="us",
        stack="heroku-24",
        build_stack="heroku-24",
        maintenance=False,
        acm=False,
        locked=False,
        created_at=when,
        updated_at=when,
        released_at=None,
        archived_at=None,
    )
    owner = AccountRef.trusted(email="a@example.com", id=uuid.uuid4())
    body = json.loads(
        AppOut.of(
            app, owner, Settings(data_dir=Path("/nonexistent"), database_url="sqlite+aiosqlite://")
        ).model_dump_json()
    )
    assert body["created_at"] == body["updated_at"] == "2026-12-03T14:57:25Z"
    assert body["released_at"] is None
