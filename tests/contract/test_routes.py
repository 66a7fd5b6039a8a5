"""Route parity: the API routes exactly what the reference documents, plus named extras."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from tenku.app import create_app
from tenku.config import Settings
from tests.contract.reference import endpoints, resources

# Resources whose every endpoint Tenku serves.
BUILT = [
    "account",
    "account-feature",
    "addon",
    "addon-action",
    "addon-attachment",
    "addon-config",
    "addon-region-capability",
    "addon-service",
    "app",
    "app-feature",
    "app-transfer",
    "app-setup",
    "build",
    "build-result",
    "buildpack-installation",
    "collaborator",
    "config-var",
    "domain",
    "dyno",
    "filter-apps",
    "formation",
    "invitation",
    "key",
    "log-drain",
    "log-session",
    "oauth-authorization",
    "oauth-client",
    "oauth-token",
    "organization-app",
    "organization-app-collaborator",
    "organization",
    "organization-addon",
    "organization-member",
    "organization-preferences",
    "otp-secret",
    "password-reset",
    "pipeline",
    "pipeline-coupling",
    "pipeline-promotion",
    "pipeline-promotion-target",
    "plan",
    "rate-limit",
    "recovery-code",
    "region",
    "release",
    "slug",
    "sms-number",
    "source",
    "ssl-endpoint",
    "stack",
    "user-preferences",
    "whitelisted-addon-service",
]

# Heroku's Data API (what `pg:*` and `redis:*` call on the data host) is another API than
# the reference's; its routes are tested in tests/data_api.
DATA_API = "tenku.data_api."

# Routes the reference lacks, each with the reason it exists.
EXTRA = {
    ("POST", "/actions/addons/resolve"): "add-on commands resolve any add-on identifier",
    ("POST", "/actions/addon-attachments/resolve"): "add-on commands resolve attachment names",
    ("POST", "/addons/{}/actions/provision"): "an asynchronous add-on partner reports completion",
    ("POST", "/addons/{}/actions/deprovision"): "an add-on partner gives up or finishes removal",
    ("POST", "/oauth/token"): "add-on partners exchange their provisioning grant for a token",
    ("GET", "/apps/{}/releases/{}/config-vars"): "releases:info reads a release's config",
    ("GET", "/apps/{}/sni-endpoints"): "domains:add and certs list SNI endpoints",
    ("POST", "/apps/{}/sni-endpoints"): "certs:add (today's name for SSL endpoints)",
    ("GET", "/apps/{}/sni-endpoints/{}"): "certs:info reads an SNI endpoint",
    ("PATCH", "/apps/{}/sni-endpoints/{}"): "certs:update replaces the certificate",
    ("DELETE", "/apps/{}/sni-endpoints/{}"): "certs:remove deletes an SNI endpoint",
    (
        "PATCH",
        "/apps/{}/domains/{}",
    ): "domains:update --cert and certs:add pick a domain's SNI endpoint",
    ("POST", "/apps/{}/dynos/{}/actions/stop"): "ps:stop stops one dyno (or a process type)",
    ("DELETE", "/apps/{}/formations/{}"): "ps:restart --process-type restarts a process type",
    ("POST", "/apps/{}/formations/{}/actions/stop"): "ps:stop --process-type stops a process type",
    ("DELETE", "/oauth/sessions/~"): "logout deletes the session it may be using",
    ("PATCH", "/oauth/authorizations/{}"): "authorizations:update changes a description",
    ("GET", "/oauth/authorize"): "the authorization-code flow's approval page (HTML, for browsers)",
    ("POST", "/oauth/authorize"): "the approval page's form: log in, then allow or deny",
    ("POST", "/sources"): "the CLI creates sources without an app (CI)",
    ("PUT", "/blobs/{}"): "source and slug blob URLs take uploads on Tenku itself",
    ("GET", "/blobs/{}"): "source and slug blob URLs serve downloads",
    ("GET", "/blobs/buildpacks/{}/{}"): "the registry's blob_url of a built-in buildpack",
    ("GET", "/buildpacks"): "buildpack registry: buildpacks:search",
    ("GET", "/buildpacks/{}"): "buildpack registry: buildpacks:set/add/info look names up",
    ("GET", "/buildpacks/{}/revisions"): "buildpack registry: buildpacks:versions and :info",
    ("GET", "/buildpacks/{}/readme"): "buildpack registry: buildpacks:info",
    ("GET", "/streams/builds/{}/{}"): "a build's output_stream_url (plain text or SSE)",
    ("GET", "/streams/logs/{}"): "a log session's logplex_url (plain text or SSE)",
    ("GET", "/{}.git/info/refs"): "git push and clone over smart HTTP",
    ("POST", "/{}.git/git-upload-pack"): "git fetch and clone over smart HTTP",
    ("POST", "/{}.git/git-receive-pack"): "git push over smart HTTP (deploys main)",
    ("GET", "/teams"): "teams, orgs and the CLI list teams under today's name",
    ("POST", "/teams"): "today's API creates teams (the reference's organizations)",
    ("GET", "/teams/{}"): "members:* and orgs:open read a team under today's name",
    ("PATCH", "/teams/{}"): "a team's default flag and name under today's name",
    ("DELETE", "/teams/{}"): "today's API deletes an empty team",
    ("GET", "/teams/{}/addons"): "usage:addons --team lists a team's add-ons",
    ("GET", "/teams/{}/members"): "members and access (team apps) list a team's members",
    ("PUT", "/teams/{}/members"): "members:add adds a member under today's name",
    ("PATCH", "/teams/{}/members"): "members:set changes a member's role",
    ("DELETE", "/teams/{}/members/{}"): "members:remove removes a member",
    ("GET", "/teams/{}/preferences"): "a team's preferences under today's name",
    ("PATCH", "/teams/{}/preferences"): "a team's preferences under today's name",
    ("GET", "/teams/{}/whitelisted-addon-services"): "the add-on allow-list, today's name",
    ("POST", "/teams/{}/whitelisted-addon-services"): "the add-on allow-list, today's name",
    ("DELETE", "/teams/{}/whitelisted-addon-services/{}"): "the add-on allow-list, today's name",
    ("GET", "/schema"): "the API's JSON hyper-schema, as api.heroku.com serves it",
    ("GET", "/openapi.json"): "the same routes as OpenAPI 3.1, for testing tools",
    # Team apps under the CLI's /teams names (Heroku renamed organizations to teams);
    # each shares its implementation with the reference's /organizations route.
    ("POST", "/teams/apps"): "apps:create --team creates the app in the team",
    ("GET", "/teams/{}/apps"): "apps --team lists a team's apps",
    ("GET", "/teams/apps/{}"): "apps:lock and apps:unlock read the team app first",
    ("PATCH", "/teams/apps/{}"): "apps:lock, apps:unlock and apps:transfer (to a team)",
    ("POST", "/teams/apps/{}/collaborators"): "access:add --permissions, and apps:join",
    ("GET", "/teams/apps/{}/collaborators"): "a team app's collaborators, by the /teams name",
    ("GET", "/teams/apps/{}/collaborators/{}"): "a team app's collaborator, by the /teams name",
    ("PATCH", "/teams/apps/{}/collaborators/{}"): "access:update sets the permissions",
    ("DELETE", "/teams/apps/{}/collaborators/{}"): "removing one, by the /teams name",
    ("GET", "/teams/permissions"): "access lists team admins with every app permission",
    ("GET", "/teams/{}/invitations"): "members and members:remove list pending invitations",
    ("PUT", "/teams/{}/invitations"): "members:add invites, the team having team-invite-acceptance",
    ("DELETE", "/teams/{}/invitations/{}"): "members:remove revokes a pending invitation",
    ("GET", "/teams/invitations/{}"): "the invited person reads a mailed team invitation",
    ("POST", "/teams/invitations/{}/accept"): "someone with an account joins the team invited to",
    ("GET", "/teams/{}/features"): "members:add and members check team-invite-acceptance",
    ("GET", "/teams/{}/features/{}"): "one team feature, as for account and app features",
}


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def _routes() -> set[tuple[str, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="tenku-routes-"))
    app = create_app(Settings(data_dir=data_dir, database_url="sqlite+aiosqlite://"))
    found = set()
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        nested = getattr(route, "original_router", None)
        if nested is not None:
            pending.extend(nested.routes)
        elif isinstance(route, APIRoute) and not route.endpoint.__module__.startswith(DATA_API):
            found.update((method, _shape(route.path)) for method in route.methods)
    return found


ROUTES = _routes()


@pytest.mark.parametrize(
    "endpoint",
    [e for e in endpoints() if e.resource in BUILT],
    ids=lambda e: f"{e.method} {e.path}",
)
def test_documented_endpoint_is_routed(endpoint: object) -> None:
    assert (endpoint.method, _shape(endpoint.path)) in ROUTES  # type: ignore[attr-defined]


def test_no_undocumented_route_without_a_reason() -> None:
    documented = {(e.method, _shape(e.path)) for e in endpoints()}
    unexplained = sorted(r for r in ROUTES if r not in documented and r not in EXTRA)
    assert unexplained == []


def test_every_built_resource_exists_in_the_reference() -> None:
    assert set(BUILT) <= set(resources())
