from __future__ import annotations

import re

import pytest

from tenku.addons.naming import (
    COLORS,
    color_name,
    generate_addon_name,
    normalize_attachment_name,
    rename_vars,
)


def test_vars_take_the_attachment_name() -> None:
    config = {"FOO_BAR_A": "1", "FOO_BAR_B": "2"}
    assert rename_vars(config, "FOO_BAR", "QUEUE") == {"QUEUE_A": "1", "QUEUE_B": "2"}
    assert rename_vars({"HEROKU_POSTGRESQL_URL": "u"}, "HEROKU_POSTGRESQL", "DATABASE") == {
        "DATABASE_URL": "u"
    }
    assert rename_vars({"FOO": "x"}, "FOO", "BAR") == {"BAR": "x"}


def test_colours_are_unique_per_app() -> None:
    taken: set[str] = set()
    for _ in COLORS:
        taken.add(color_name("HEROKU_POSTGRESQL", taken))
    assert len(taken) == len(COLORS)
    assert {t.rsplit("_", 1)[1] for t in taken} == set(COLORS)
    # Once every colour is used, numbered names follow.
    assert re.fullmatch(r"HEROKU_POSTGRESQL_[A-Z]+_2", color_name("HEROKU_POSTGRESQL", taken))
    # A colour used by another service's attachment is taken too.
    used = {f"HEROKU_REDIS_{c}" for c in COLORS[1:]}
    assert color_name("HEROKU_POSTGRESQL", used) == f"HEROKU_POSTGRESQL_{COLORS[0]}"


def test_generated_add_on_names() -> None:
    assert re.fullmatch(r"postgresql-[a-z]+-\d{5}", generate_addon_name("heroku-postgresql"))
    assert re.fullmatch(r"fast-db-[a-z]+-\d{5}", generate_addon_name("fast-db"))


def test_attachment_names() -> None:
    assert normalize_attachment_name(" database ") == "DATABASE"
    assert normalize_attachment_name("Backup_DB2") == "BACKUP_DB2"
    for bad in ("", "1DB", "MY-DB", "A B", "X" * 61):
        with pytest.raises(ValueError, match="not a valid attachment name"):
            normalize_attachment_name(bad)
