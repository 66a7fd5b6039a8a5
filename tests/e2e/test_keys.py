"""keys:* through the real CLI, with a freshly generated ed25519 key."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Heroku, json_of

pytestmark = pytest.mark.e2e


def generate_key(directory: Path, comment: str) -> Path:
    private = directory / "id_ed25519"
    public = directory / "id_ed25519.pub"
    if shutil.which("ssh-keygen"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(private)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    else:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        blob = (
            Ed25519PrivateKey.generate()
            .public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        )
        public.write_text(f"{blob.decode()} {comment}\n")
    return public


@pytest.fixture
def public_key(tmp_path: Path) -> tuple[Path, str]:
    directory = tmp_path / "ssh"
    directory.mkdir()
    comment = f"e2e-{uuid.uuid4().hex[:10]}@tenku.test"
    return generate_key(directory, comment), comment


def keys_of(api: httpx.Client) -> dict[str, dict[str, str]]:
    return {k["comment"]: k for k in json_of(api.get("/account/keys"))}


def test_keys_add(heroku: Heroku, api: httpx.Client, public_key: tuple[Path, str]) -> None:
    path, comment = public_key
    _, _, err = heroku("keys:add", str(path))
    assert f"Uploading {path} SSH key... done" in err
    held = keys_of(api)[comment]
    assert held["public_key"].split()[:2] == path.read_text().split()[:2]
    api.delete(f"/account/keys/{held['id']}")


def test_keys_lists(heroku: Heroku, api: httpx.Client, public_key: tuple[Path, str]) -> None:
    path, comment = public_key
    text = path.read_text()
    r = api.post("/account/keys", json={"public_key": text})
    assert r.status_code == 201, r.text
    kind, blob = text.split()[:2]

    _, out, _ = heroku("keys")
    lines = out.splitlines()
    assert lines[0] == "=== owner@example.com keys"
    assert f"{kind} {blob[:10]}...{blob[-10:]} {comment}" in lines

    _, out, _ = heroku("keys", "--long")
    assert any(line.split()[:3] == [kind, blob, comment] for line in out.splitlines())
    api.delete(f"/account/keys/{json_of(r)['id']}")


def test_keys_remove(heroku: Heroku, api: httpx.Client, public_key: tuple[Path, str]) -> None:
    path, comment = public_key
    assert api.post("/account/keys", json={"public_key": path.read_text()}).status_code == 201
    _, _, err = heroku("keys:remove", comment)
    assert f"Removing {comment} SSH key... done" in err
    assert comment not in keys_of(api)
    code, _, err = heroku("keys:remove", comment, check=False)
    assert code != 0
    assert f"SSH Key {comment} not found" in err or "No SSH keys on account" in err
