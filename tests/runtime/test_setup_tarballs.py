"""Finding app.json in a setup's tarball: at the app's root only, within the source limits,
without unpacking anything."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from tenku.runtime.setups import SetupFailed, read_app_json
from tests.resources.app_setup.support import tarball

LIMITS = (1 << 20, 50)


def test_at_the_root_or_in_a_lone_top_directory(tmp_path: Path) -> None:
    root = tarball(tmp_path / "root.tgz", {"./app.json": '{"a": 1}', "Procfile": "web: x"})
    assert read_app_json(root, LIMITS) == '{"a": 1}'
    lone = tarball(tmp_path / "lone.tgz", {"app.json": "{}", "x/app.json": "no"}, top="repo-1")
    assert read_app_json(lone, LIMITS) == "{}"
    # The root's wins over a directory's, and a directory beside others is not the app.
    both = tarball(tmp_path / "both.tgz", {"app.json": "root", "sub/app.json": "sub"})
    assert read_app_json(both, LIMITS) == "root"
    two = tarball(tmp_path / "two.tgz", {"a/app.json": "a", "b/Procfile": "web: x"})
    assert read_app_json(two, LIMITS) is None
    deep = tarball(tmp_path / "deep.tgz", {"config/app.json": "x"}, top="repo")
    assert read_app_json(deep, LIMITS) is None


def test_a_link_named_app_json_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "link.tgz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("app.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    assert read_app_json(path, LIMITS) is None


def test_limits_and_garbage(tmp_path: Path) -> None:
    many = tarball(tmp_path / "many.tgz", {f"f{i}": "x" for i in range(60)})
    with pytest.raises(SetupFailed, match="too large"):
        read_app_json(many, LIMITS)
    big = tarball(tmp_path / "big.tgz", {"blob": b"\0" * (2 << 20)})
    with pytest.raises(SetupFailed, match="too large"):
        read_app_json(big, LIMITS)
    binary = tarball(tmp_path / "binary.tgz", {"app.json": b"\xff\xfe{}"})
    with pytest.raises(SetupFailed) as caught:
        read_app_json(binary, LIMITS)
    assert caught.value.errors == ["app.json is not UTF-8 text"]
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"not a tarball at all")
    with pytest.raises(SetupFailed, match="not a readable gzipped tarball"):
        read_app_json(junk, LIMITS)
    truncated = tmp_path / "truncated.tgz"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        info = tarfile.TarInfo("app.json")
        payload = b"{}" * 5000
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    truncated.write_bytes(data.getvalue()[:60])
    with pytest.raises(SetupFailed, match="not a readable gzipped tarball"):
        read_app_json(truncated, LIMITS)
