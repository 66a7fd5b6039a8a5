"""Features of a team. The heroku CLI's `members:add` invites people (rather than adding
them at once) when the team has `team-invite-acceptance`, which every Tenku team has.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from tenku.resources.app_feature.schemas import FeatureOut, feature
from tenku.resources.app_feature.service import lookup
from tenku.resources.organization.access import TeamReader
from tenku.web.deps import TransactionRoute
from tenku.web.lists import catalog_list, ranged
from tenku.web.render import model_response

router = APIRouter(route_class=TransactionRoute)

TEAM_FEATURES = [
    feature(
        "team-feature",
        "team-invite-acceptance",
        description="People added to the team are invited by mail and join once they accept",
        display_name="Team invite acceptance",
        doc_url="https://devcenter.heroku.com/articles/heroku-teams",
        enabled=True,
        state="general",
    ),
]


@router.get(
    "/teams/{team_name_or_id:team}/features",
    response_model=list[FeatureOut],
    openapi_extra=ranged(),
    summary="List",
)
async def list_features(request: Request, on: TeamReader) -> Response:
    """The features of a team (its members may list them)."""
    return catalog_list(request, FeatureOut, TEAM_FEATURES)


@router.get(
    "/teams/{team_name_or_id:team}/features/{team_feature_name_or_id}",
    response_model=FeatureOut,
    summary="Info",
)
async def info(team_feature_name_or_id: str, on: TeamReader) -> Response:
    """One feature of a team, by name or id."""
    return model_response(lookup(TEAM_FEATURES, team_feature_name_or_id))
