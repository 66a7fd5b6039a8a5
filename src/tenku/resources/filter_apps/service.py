from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select

from tenku.db.models import App
from tenku.resources.app.service import visible_apps


def filtered_apps(account_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> Select[Any]:
    """The apps among `ids` that the account owns or collaborates on; others are left out."""
    return visible_apps(account_id).where(App.id.in_(set(ids)))
