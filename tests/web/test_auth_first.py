"""Authentication comes before anything else a request asks for."""

from __future__ import annotations

from tests.conftest import ApiClient
from tests.contract.test_routes import ROUTES

# Routes that take no Authorization, each with the reason.
ANONYMOUS = {
    ("GET", "/addon-services"): "the reference: add-on service endpoints need no authentication",
    ("GET", "/addon-services/{}"): "the reference: add-on service endpoints need no authentication",
    ("GET", "/addon-services/{}/plans"): "the reference: plans need no authentication",
    ("GET", "/addon-services/{}/plans/{}"): "the reference: plans need no authentication",
    ("GET", "/addon-services/{}/region-capabilities"): "under add-on services: public",
    ("GET", "/blobs/{}"): "the signed, expiring URL is the credential",
    ("PUT", "/blobs/{}"): "the signed, expiring URL is the credential",
    ("GET", "/blobs/buildpacks/{}/{}"): "built-in buildpacks are public downloads",
    ("GET", "/buildpacks"): "the buildpack registry is public; the CLI sends no token",
    ("GET", "/buildpacks/{}"): "the buildpack registry is public; the CLI sends no token",
    ("GET", "/buildpacks/{}/revisions"): "the buildpack registry is public",
    ("GET", "/buildpacks/{}/readme"): "the buildpack registry is public",
    ("GET", "/streams/builds/{}/{}"): "a build's output_stream_url: the URL is the secret",
    ("GET", "/streams/logs/{}"): "a log session's logplex_url: the URL is the secret",
    ("GET", "/oauth/authorize"): "the approval page: the user logs in on it",
    ("POST", "/oauth/authorize"): "the approval page's form carries the user's email and password",
    ("POST", "/oauth/tokens"): "the OAuth client authenticates with the secret in the body",
    ("POST", "/password-resets"): "asking for a reset mail: whoever has forgotten the password",
    ("POST", "/password-resets/{}/actions/finalize"): "the mailed token is the credential",
    ("GET", "/schema"): "Heroku serves its schema without authentication",
    ("GET", "/openapi.json"): "the same routes, for testing tools",
    ("GET", "/invitations/{}"): "the mailed invitation token is the credential",
    ("PATCH", "/invitations/{}"): "the mailed invitation token is the credential",
    ("GET", "/teams/invitations/{}"): "the mailed invitation token is the credential",
}


async def test_every_route_refuses_anonymous_callers_first(api: ApiClient) -> None:
    refused = []
    for method, shape in sorted(ROUTES):
        if (method, shape) in ANONYMOUS:
            continue
        path = shape.replace("{}", "x")
        r = await api.request(
            method, path, content=b"{broken", headers={"Content-Type": "application/json"}
        )
        refused.append((method, path, r.status_code))
    assert [x for x in refused if x[2] != 401] == []
    assert len(refused) >= 60


async def test_blob_urls_refuse_a_bad_token(api: ApiClient) -> None:
    for method in ("GET", "PUT"):
        r = await api.request(method, "/blobs/x", content=b"data")
        assert r.status_code == 403
