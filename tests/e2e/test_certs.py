"""certs:* and domains with SNI endpoints through the real CLI; what the router then presents
to a TLS client, per name."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.certificates import Issued, make_ca, make_leaf
from tests.e2e.conftest import Heroku, LiveServer, json_of, styled_object

pytestmark = pytest.mark.e2e

# How long the runtime may take to pick up a change (it is nudged after each write).
SERVED_WITHIN = 30.0


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca()


def files(tmp_path: Path, leaf: Issued, *chain: Issued, name: str = "site") -> tuple[str, str]:
    cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert.write_text(leaf.chain(*chain))
    key.write_text(leaf.key_pem)
    return str(cert), str(key)


def endpoints(api: httpx.Client, app: str) -> list[dict[str, Any]]:
    held: list[dict[str, Any]] = json_of(api.get(f"/apps/{app}/sni-endpoints"))
    return held


def domains(api: httpx.Client, app: str) -> dict[str, dict[str, Any]]:
    return {d["hostname"]: d for d in json_of(api.get(f"/apps/{app}/domains"))}


def presented(server: LiveServer, name: str) -> bytes:
    """The certificate the router's HTTPS listener presents to a client asking for `name`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", server.router_https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def verified(server: LiveServer, name: str, context: ssl.SSLContext) -> bytes:
    """The same through a client that checks the certificate for `name` (raises if not)."""
    with (
        socket.create_connection(("127.0.0.1", server.router_https_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def until_presented(server: LiveServer, name: str, der: bytes) -> None:
    deadline = time.monotonic() + SERVED_WITHIN
    while presented(server, name) != der:
        if time.monotonic() > deadline:
            pytest.fail(f"the router did not present the expected certificate for {name}")
        time.sleep(0.2)


def tenku_der(server: LiveServer) -> bytes:
    return ssl.PEM_cert_to_DER_cert((server.data_dir / "tls" / "server.pem").read_text())


def test_certs_add_list_and_info(
    heroku: Heroku, app: str, api: httpx.Client, ca: Issued, tmp_path: Path
) -> None:
    _, out, _ = heroku("certs", "-a", app)
    assert f"{app} has no SSL certificates." in out

    host = f"www.{app}.example.com"
    leaf = make_leaf(ca, host, f"{app}.example.com")
    _, out, err = heroku("certs:add", *files(tmp_path, leaf, ca), "-a", app)
    assert f"Adding SSL certificate to {app}... done" in err
    [held] = endpoints(api, app)
    assert held["certificate_chain"] == leaf.chain(ca)
    assert held["ssl_cert"]["cert_domains"] == [host, f"{app}.example.com"]
    shown = styled_object(out)
    assert shown["Common Name(s)"] == host
    assert f"{app}.example.com" in out
    assert shown["Issuer"] == held["ssl_cert"]["issuer"] == "/C=US/O=Tenku Tests/CN=Tenku Test CA"
    assert shown["Subject"] == held["ssl_cert"]["subject"]
    expires = held["ssl_cert"]["expires_at"]
    assert shown["Expires At"] == f"{expires[:10]} {expires[11:16]} UTC"
    assert "SSL certificate is not trusted." in out

    _, out, _ = heroku("certs", "-a", app)
    [row] = [line for line in out.splitlines() if held["name"] in line]
    assert f"{host}, {app}.example.com" in row
    assert row.split()[-3:] == ["False", "SNI", "0"]

    _, out, err = heroku("certs:info", "-a", app)
    assert f"Fetching SSL certificate {held['name']} info for {app}... done" in err
    assert styled_object(out)["Subject"] == held["ssl_cert"]["subject"]


def test_certs_add_associates_domains_and_the_router_serves_them(
    heroku: Heroku,
    app: str,
    api: httpx.Client,
    server: LiveServer,
    ca: Issued,
    tmp_path: Path,
) -> None:
    host, other = f"www.{app}.example.com", f"other.{app}.example.org"
    for hostname in (host, other):
        r = api.post(f"/apps/{app}/domains", json={"hostname": hostname, "sni_endpoint": None})
        assert r.status_code == 201, r.text
    leaf = make_leaf(ca, host)
    # The CLI asks which matching domains to use the certificate for: select the one offered.
    _, out, _ = heroku("certs:add", *files(tmp_path, leaf, ca), "-a", app, input=" \n")
    assert "Which of these domains on this application" in out
    [held] = endpoints(api, app)
    assert domains(api, app)[host]["sni_endpoint"] == {"id": held["id"], "name": held["name"]}
    assert domains(api, app)[other]["sni_endpoint"] is None
    assert endpoints(api, app)[0]["domains"] == [domains(api, app)[host]["id"]]

    _, out, _ = heroku("domains", "-a", app)
    assert "SNI Endpoint" in out
    [row] = [line for line in out.splitlines() if line.strip().startswith(host)]
    assert row.split()[-1] == held["name"]
    [row] = [line for line in out.splitlines() if line.strip().startswith(other)]
    assert held["name"] not in row

    # A client asking for the domain gets the app's certificate, and can verify it by name.
    until_presented(server, host, leaf.der)
    assert verified(server, host, ssl.create_default_context(cadata=ca.pem)) == leaf.der
    # The app's default host and names without a certificate get Tenku's.
    tenku = verified(server, f"{app}.tenku.localhost", ssl.create_default_context(cafile=server.ca))
    assert tenku == tenku_der(server)
    assert presented(server, other) == tenku
    assert presented(server, "unknown.example.net") == tenku


def test_certs_update_and_remove(
    heroku: Heroku,
    app: str,
    api: httpx.Client,
    server: LiveServer,
    ca: Issued,
    tmp_path: Path,
) -> None:
    host = f"www.{app}.example.com"
    first = make_leaf(ca, host)
    heroku("certs:add", *files(tmp_path, first, ca), "-a", app)
    [held] = endpoints(api, app)
    _, _, err = heroku("domains:add", host, "--cert", held["name"], "-a", app)
    assert f"Adding {host} to {app}... done" in err
    assert domains(api, app)[host]["sni_endpoint"]["name"] == held["name"]
    until_presented(server, host, first.der)

    renewed = make_leaf(ca, host)
    crt, key = files(tmp_path, renewed, ca, name="renewed")
    _, out, err = heroku("certs:update", crt, key, "-a", app, "--confirm", app)
    assert f"Updating SSL certificate {held['name']} for {app}... done" in err
    assert "Updated certificate details:" in out
    [updated] = endpoints(api, app)
    assert updated["id"] == held["id"]
    assert updated["certificate_chain"] == renewed.chain(ca)
    assert updated["ssl_cert"]["id"] != held["ssl_cert"]["id"]
    until_presented(server, host, renewed.der)

    _, _, err = heroku("certs:remove", "-a", app, "--confirm", app)
    assert f"Removing SSL certificate {held['name']} from {app}... done" in err
    assert endpoints(api, app) == []
    assert domains(api, app)[host]["sni_endpoint"] is None
    until_presented(server, host, tenku_der(server))
    _, out, _ = heroku("certs", "-a", app)
    assert f"{app} has no SSL certificates." in out


def test_domains_update_picks_the_certificate(
    heroku: Heroku, app: str, api: httpx.Client, ca: Issued, tmp_path: Path
) -> None:
    host = f"api.{app}.example.com"
    api.post(f"/apps/{app}/domains", json={"hostname": host, "sni_endpoint": None})
    wildcard = make_leaf(ca, f"*.{app}.example.com")
    heroku("certs:add", *files(tmp_path, wildcard, ca), "-a", app, input="\n")
    [held] = endpoints(api, app)
    heroku("domains:update", host, "--cert", held["name"], "-a", app)
    assert domains(api, app)[host]["sni_endpoint"]["name"] == held["name"]

    _, out, _ = heroku("certs:info", "-a", app, "--name", held["name"], "--show-domains")
    assert styled_object(out)["Domain(s)"] == host
    _, out, _ = heroku("certs", "-a", app)
    [row] = [line for line in out.splitlines() if held["name"] in line]
    assert row.split()[-1] == "1"

    # A certificate that does not cover the name is refused, and nothing changes.
    mismatched = make_leaf(ca, "elsewhere.example.net")
    heroku("certs:add", *files(tmp_path, mismatched, ca, name="other"), "-a", app)
    names = {e["name"] for e in endpoints(api, app)} - {held["name"]}
    [other_name] = names
    code, _, err = heroku("domains:update", host, "--cert", other_name, "-a", app, check=False)
    assert code != 0
    assert "does not cover" in err
    assert domains(api, app)[host]["sni_endpoint"]["name"] == held["name"]


def test_certs_add_refuses_a_key_that_does_not_match(
    heroku: Heroku, app: str, api: httpx.Client, ca: Issued, tmp_path: Path
) -> None:
    leaf = make_leaf(ca, f"www.{app}.example.com")
    crt, _ = files(tmp_path, leaf, ca)
    _, key = files(tmp_path, make_leaf(ca, "x.example.com"), ca, name="wrong")
    code, _, err = heroku("certs:add", crt, key, "-a", app, check=False)
    assert code != 0
    assert "private_key does not match the certificate" in " ".join(err.split())
    assert "Error ID: invalid_params" in err
    assert endpoints(api, app) == []
