from __future__ import annotations

from typing import Annotated, Any

from pydantic import RootModel, StringConstraints

from tenku.resources.config_var import service
from tenku.web.deps import JsonBody

Name = Annotated[str, StringConstraints(pattern=service.KEY_RE.pattern, max_length=255)]


class ConfigVarsUpdate(RootModel[dict[Name, str | None]]):
    """Config vars to set, by name; `null` removes one."""


class ConfigChanges(JsonBody[ConfigVarsUpdate]):
    """The body of a config change, checked by the service's own rules (and messages)."""

    def parse(self, data: dict[str, Any]) -> dict[str, str | None]:
        return service.validate_changes(data)
