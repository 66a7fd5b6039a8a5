"""Every documented response example parses into the response model that serves it."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from pydantic import BaseModel

from tests.contract.reference import Endpoint, endpoints

MODELS = {
    "account": "tenku.resources.account.schemas:AccountOut",
    "account-feature": "tenku.resources.app_feature.schemas:FeatureOut",
    "app-feature": "tenku.resources.app_feature.schemas:FeatureOut",
    "collaborator": "tenku.resources.collaborator.schemas:CollaboratorOut",
    "domain": "tenku.resources.domain.schemas:DomainOut",
    "formation": "tenku.resources.formation.schemas:FormationOut",
    "key": "tenku.resources.key.schemas:KeyOut",
    "log-drain": "tenku.resources.log_drain.schemas:LogDrainOut",
    "oauth-authorization": "tenku.resources.oauth_authorization.schemas:AuthorizationOut",
    "user-preferences": "tenku.resources.user_preferences.schemas:PreferencesOut",
    "app": "tenku.resources.app.schemas:AppOut",
    "filter-apps": "tenku.resources.filter_apps.schemas:FilteredAppOut",
    "rate-limit": "tenku.resources.rate_limit.schemas:RateLimitOut",
    "region": "tenku.resources.region.schemas:RegionOut",
    "release": "tenku.resources.release.schemas:ReleaseOut",
    "stack": "tenku.resources.stack.schemas:StackOut",
}


def _model(resource: str) -> type[BaseModel]:
    module, name = MODELS[resource].split(":")
    model: type[BaseModel] = getattr(importlib.import_module(module), name)
    return model


CASES = [e for e in endpoints() if e.resource in MODELS and e.example is not None]


@pytest.mark.parametrize("endpoint", CASES, ids=lambda e: f"{e.resource}: {e.title}")
def test_example_parses(endpoint: Endpoint) -> None:
    model = _model(endpoint.resource)
    example: Any = endpoint.example
    for item in example if isinstance(example, list) else [example]:
        model.model_validate(item)


def test_every_model_has_examples() -> None:
    assert {e.resource for e in CASES} == set(MODELS)
