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
    "addon": "tenku.resources.addon.schemas:AddonOut",
    "addon-attachment": "tenku.resources.addon_attachment.schemas:AttachmentOut",
    "addon-config": "tenku.resources.addon_config.schemas:ConfigItemOut",
    "addon-region-capability": (
        "tenku.resources.addon_region_capability.schemas:RegionCapabilityOut"
    ),
    "addon-service": "tenku.resources.addon_service.schemas:AddonServiceOut",
    "app-feature": "tenku.resources.app_feature.schemas:FeatureOut",
    "app-transfer": "tenku.resources.app_transfer.schemas:AppTransferOut",
    "app-setup": "tenku.resources.app_setup.schemas:AppSetupOut",
    "build": "tenku.resources.build.schemas:BuildOut",
    "build-result": "tenku.resources.build_result.schemas:BuildResultOut",
    "buildpack-installation": (
        "tenku.resources.buildpack_installation.schemas:BuildpackInstallationOut"
    ),
    "collaborator": "tenku.resources.collaborator.schemas:CollaboratorOut",
    "domain": "tenku.resources.domain.schemas:DomainOut",
    "dyno": "tenku.resources.dyno.schemas:DynoOut",
    "formation": "tenku.resources.formation.schemas:FormationOut",
    "invitation": "tenku.resources.invitation.schemas:InvitationOut",
    "key": "tenku.resources.key.schemas:KeyOut",
    "log-drain": "tenku.resources.log_drain.schemas:LogDrainOut",
    "log-session": "tenku.resources.log_session.schemas:LogSessionOut",
    "oauth-authorization": "tenku.resources.oauth_authorization.schemas:AuthorizationOut",
    "oauth-client": "tenku.resources.oauth_client.schemas:OAuthClientOut",
    "oauth-token": "tenku.resources.oauth_token.schemas:OAuthTokenOut",
    "organization-app": "tenku.resources.organization_app.schemas:OrganizationAppOut",
    "organization-app-collaborator": (
        "tenku.resources.organization_app_collaborator.schemas:OrganizationAppCollaboratorOut"
    ),
    "organization": "tenku.resources.organization.schemas:OrganizationOut",
    "organization-member": "tenku.resources.organization_member.schemas:OrganizationMemberOut",
    "organization-preferences": (
        "tenku.resources.organization_preferences.schemas:OrganizationPreferencesOut"
    ),
    "whitelisted-addon-service": (
        "tenku.resources.whitelisted_addon_service.schemas:WhitelistedAddonServiceOut"
    ),
    "pipeline": "tenku.resources.pipeline.schemas:PipelineOut",
    "pipeline-coupling": "tenku.resources.pipeline_coupling.schemas:CouplingOut",
    "pipeline-promotion": "tenku.resources.pipeline_promotion.schemas:PromotionOut",
    "pipeline-promotion-target": (
        "tenku.resources.pipeline_promotion_target.schemas:PromotionTargetOut"
    ),
    "plan": "tenku.resources.plan.schemas:PlanOut",
    "user-preferences": "tenku.resources.user_preferences.schemas:PreferencesOut",
    "app": "tenku.resources.app.schemas:AppOut",
    "filter-apps": "tenku.resources.filter_apps.schemas:FilteredAppOut",
    "rate-limit": "tenku.resources.rate_limit.schemas:RateLimitOut",
    "region": "tenku.resources.region.schemas:RegionOut",
    "release": "tenku.resources.release.schemas:ReleaseOut",
    "slug": "tenku.resources.slug.schemas:SlugOut",
    "source": "tenku.resources.source.schemas:SourceOut",
    "ssl-endpoint": "tenku.resources.sni_endpoint.schemas:EndpointOut",
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
