from __future__ import annotations

from tenku.ids import EPOCH, as_uuid, stable_id
from tenku.resources.stack.schemas import StackOut

DEFAULT_STACK = "heroku-24"
# heroku3 creates apps with stack "cedar", the name of the old family.
ALIASES = {"cedar": "cedar-14"}


def _stack(name: str, state: str) -> StackOut:
    return StackOut(
        created_at=EPOCH,
        default=name == DEFAULT_STACK,
        id=stable_id("stack", name),
        name=name,
        state=state,
        updated_at=EPOCH,
    )


STACKS = [
    _stack("heroku-24", "public"),
    _stack("heroku-22", "public"),
    _stack("heroku-20", "deprecated"),
    _stack("cedar-14", "deprecated"),
]


_BY_KEY = {key: s for s in STACKS for key in (s.name, str(s.id))}


def find_stack(ident: str) -> StackOut | None:
    uid = as_uuid(ident)
    return _BY_KEY.get(str(uid) if uid is not None else ALIASES.get(ident, ident))


def stack_named(name: str) -> StackOut:
    found = find_stack(name)
    return found if found is not None else _stack(name, "deprecated")
