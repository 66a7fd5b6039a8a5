"""Features of a team, which every Tenku team has: the heroku CLI's `members:add` invites
people (rather than adding them at once) when the team has `team-invite-acceptance`, and
its `access:add` sends `--permissions` only when the team has `org-access-controls`.
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
        "org-access-controls",
        description="Each collaborator on a team app holds the app permissions given to them",
        display_name="App permissions",
        doc_url="https://devcenter.heroku.com/articles/app-permissions",
        enabled=True,
        state="general",
    ),
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
