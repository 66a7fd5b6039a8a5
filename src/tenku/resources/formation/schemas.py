from __future__ import annotations

import re
import uuid

from pydantic import field_validator

from tenku.db.models import App, Formation
from tenku.resources.common import In, Out, Ref
from tenku.resources.formation.sizes import SIZES, canonical_size
from tenku.web.render import Timestamp

# `ps:scale web=2` sends "2"; `web+1` / `web-1` send "+1" / "-1", a change relative
# to the current quantity.
QUANTITY_RE = re.compile(r"^\s*([+-]?)(\d{1,9})\s*$")


class FormationOut(Out):
    app: Ref
    command: str
    created_at: Timestamp
    id: uuid.UUID
    quantity: int
    size: str
    type: str
    updated_at: Timestamp

    @classmethod
    def of(cls, row: Formation, app: App) -> FormationOut:
        return cls(
            app=Ref.of(app),
            command=row.command,
            created_at=row.created_at,
            id=row.id,
            quantity=row.quantity,
            size=canonical_size(row.size) or row.size,
            type=row.type,
            updated_at=row.updated_at,
        )


def check_quantity(value: object) -> int | str | None:
    """An absolute quantity as an int, or a relative one as a signed string."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("must be a whole number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must be 0 or more")
        return value
    if isinstance(value, str) and (m := QUANTITY_RE.match(value)):
        sign, digits = m.groups()
        return f"{sign}{int(digits)}" if sign else int(digits)
    raise ValueError("must be a whole number")


def check_size(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string")
    size = canonical_size(value)
    if size is None:
        raise ValueError(f"No such size as {value}. Use one of {', '.join(SIZES)}")
    return size


class FormationUpdate(In):
    quantity: int | str | None = None
    size: str | None = None

    _quantity = field_validator("quantity", mode="before")(check_quantity)
    _size = field_validator("size", mode="before")(check_size)


class FormationChange(FormationUpdate):
    type: str


class FormationBatch(In):
    updates: list[FormationChange]
