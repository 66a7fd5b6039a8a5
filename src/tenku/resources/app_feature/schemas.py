from __future__ import annotations

import uuid

from tenku.ids import EPOCH, stable_id
from tenku.resources.common import In, Out
from tenku.web.render import Timestamp


class FeatureOut(Out):
    """A catalogue entry; `enabled` is the default until an app or account overrides it."""

    created_at: Timestamp = EPOCH
    description: str
    display_name: str = ""
    doc_url: str
    enabled: bool = False
    feedback_email: str = ""
    id: uuid.UUID
    name: str
    state: str
    updated_at: Timestamp = EPOCH

    def with_enabled(self, enabled: bool) -> FeatureOut:
        return self.model_copy(update={"enabled": enabled})


def feature(kind: str, name: str, **fields: object) -> FeatureOut:
    return FeatureOut.model_validate({"id": stable_id(kind, name), "name": name, **fields})


class FeatureUpdate(In):
    enabled: bool
