"""Tenants that cannot reach each other: the attacks a second user would try, from inside
a real dyno and a real build, and what they find.

Each attack runs in a probe (a one-off dyno of the stranger's app, or a build step of
its buildpack) while the owner's app runs a web dyno with a secret in its config. The same
probe run with the sandbox off finds what it looks for, which shows the checks can fail.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tenku.addons.servers import postgres_endpoint
from tenku.db.models import Dyno
from tenku.runtime import procs, untar
from tenku.runtime.sandbox import Sandbox
from tests.conftest import User, uid_base
from tests.runtime.conftest import Live, tarball
from tests.runtime.test_dynos import (
    APP_DIR,
    _has,
    all_up,
    deployed,
    local,
    logs,
    pgid_of,
    until,
)

SECRET = "victim-secret-" + uuid.uuid4().hex
PROBE = r"""
import json, os, signal, sys

targets = json.loads(sys.argv[1])
out = {"uid": os.getuid(), "pids": len([p for p in os.listdir("/proc") if p.isdigit()])}

def attempt(name, fn):
    try:
        fn()
        out[name] = "done"
    except FileNotFoundError:
        out[name] = "missing"
    except PermissionError:
        out[name] = "denied"
    except OSError as exc:
        out[name] = f"failed:{exc.errno}"

for name, path in targets["read"].items():
    attempt(name, lambda path=path: open(path, "rb").read(16))
for name, path in targets["list"].items():
    attempt(name, lambda path=path: os.listdir(path))
    try:
        out[name + "_entries"] = sorted(os.listdir(path))
    except OSError:
        out[name + "_entries"] = []
attempt("write_data_dir", lambda: open(targets["write"], "w").write("x"))
attempt("write_usr", lambda: open("/usr/pwned", "w").write("x"))
found = False
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            if targets["secret"].encode() in open(f"/proc/{pid}/environ", "rb").read():
                found = True
        except OSError:
            pass
out["victim_environ"] = "found" if found else "not found"
attempt("write_home", lambda: open(os.path.join(os.environ["HOME"], "mine"), "w").write("x"))
import socket
def connect(port, host="127.0.0.1"):
    with socket.create_connection((host, port), timeout=5):
        pass
attempt("victim_port", lambda: connect(targets["victim_port"]))
attempt("router", lambda: connect(targets["router_port"]))
attempt("local_service", lambda: connect(targets["local_service"]))
attempt("addon_server", lambda: connect(*targets["addon_server"][::-1]))
attempt("metadata", lambda: connect(80, "169.254.169.254"))
def datagram():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"probe", ("127.0.0.1", targets["local_udp"]))
attempt("local_udp", datagram)
def nudge():
    fd = os.open(targets["nudge_dir"], os.O_PATH | os.O_DIRECTORY)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"wake", f"/proc/self/fd/{fd}/nudge")
attempt("nudge", nudge)
attempt("kill_victim", lambda: os.kill(targets["victim_pid"], signal.SIGKILL))
print("PROBE " + json.dumps(out), flush=True)
"""


def targets(
    live: Live, victim_id: str, victim_pid: int, victim_port: int, local: Locals
) -> dict[str, Any]:
    data = live.settings.data_dir
    addon = postgres_endpoint(live.settings).public
    return {
        "read": {
            "secret_key": str(data / "secret.key"),
            "ca_key": str(data / "tls" / "ca-key.pem"),
            "database": str(data / "tenku.db"),
            "shadow": "/etc/shadow",
        },
        "list": {
            "victim_files": str(data / "dynos" / victim_id),
            "data_dir": str(data),
            "blobs": str(data / "blobs"),
        },
        "write": str(data / "pwned"),
        "victim_pid": victim_pid,
        "victim_port": victim_port,
        "router_port": live.settings.router_port,
        "local_service": local.tcp.getsockname()[1],
        "local_udp": local.udp.getsockname()[1],
        "addon_server": [addon.host, addon.port],
        "nudge_dir": str(data / "run"),
        "secret": SECRET,
    }


@dataclass
class Locals:
    """Services of this machine that are not Tenku's public ones (as a database's admin
    port or a metrics endpoint would be), for the probe to try."""

    tcp: socket.socket
    udp: socket.socket

    @classmethod
    def open(cls) -> Locals:
        tcp = socket.create_server(("127.0.0.1", 0))
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        udp.setblocking(False)
        return cls(tcp, udp)

    def got_datagram(self) -> bool:
        try:
            return bool(self.udp.recv(64))
        except BlockingIOError:
            return False

    def close(self) -> None:
        self.tcp.close()
        self.udp.close()


async def port_of(live: Live, app_id: str, name: str) -> int:
    async with live.api.database.session(write=False) as db:
        row = (
            await db.execute(
                select(Dyno).where(Dyno.app_id == uuid.UUID(app_id), Dyno.name == name)
            )
        ).scalar_one()
        assert row.port is not None
        return int(row.port)


def host_uid_of_secret_holder() -> int | None:
    """The uid the victim's dyno runs as, found from outside (the test runs as root); the
    sandbox's own processes (bwrap, Tenku's uid) carry the environment too."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "bwrap":
                continue
            if SECRET.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                return os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
    return None


async def probe_from_a_dyno(live: Live, owner: User, stranger: User) -> dict[str, Any]:
    victim = await deployed(live, owner, "victim", VICTIM_SECRET=SECRET)
    await until(lambda: all_up(owner, "victim", {"web.1"}), "the victim's web.1 up")
    pgid = await pgid_of(live, victim["id"], "web.1")
    assert pgid is not None
    port = await port_of(live, victim["id"], "web.1")
    source = live.tmp / "probe-app"
    source.mkdir()
    (source / "probe.py").write_text(PROBE)
    attacker = await stranger.create_app("attacker")
    await live.release_slug(stranger, "attacker", source, {"worker": "sleep 1"})
    local = Locals.open()
    try:
        spec = json.dumps(targets(live, victim["id"], pgid, port, local))
        r = await stranger.post(
            "/apps/attacker/dynos",
            json={"command": f"python3 probe.py '{spec}'", "attach": False},
        )
        assert r.status_code == 201, r.text
        name = r.json()["name"]
        text = await until(
            lambda: _has(
                live, attacker["id"], f"heroku[{name}]: State changed from up to complete"
            ),
            "the probe done",
        )
        match = re.search(r"app\[" + re.escape(name) + r"\]: PROBE (\{.*\})", text)
        assert match, text
        result: dict[str, Any] = json.loads(match.group(1))
        result["local_udp_received"] = local.got_datagram()
    finally:
        local.close()
    result["victim_uid"] = host_uid_of_secret_holder()
    result["victim_up"] = await all_up(owner, "victim", {"web.1"})
    return result


def assert_contained(result: dict[str, Any]) -> None:
    for name in ("secret_key", "ca_key", "database", "shadow"):
        assert result[name] in ("missing", "denied"), (name, result)
    for name in ("victim_files", "blobs"):
        assert result[name] in ("missing", "denied"), (name, result)
    # The data directory shows only the path down to the dyno's own directory.
    assert result["data_dir_entries"] in ([], ["dynos"]), result
    assert result["write_data_dir"] != "done", result
    assert result["write_usr"] != "done", result
    assert result["kill_victim"] != "done", result
    # Another dyno's port only through the router; none of the machine's other services,
    # nor what lies around it, nor the runtime's inbox.
    assert result["victim_port"] != "done", result
    assert result["local_service"] == "failed:111", result
    assert result["metadata"] == "failed:111", result
    assert result["local_udp"] == "denied", result
    assert not result["local_udp_received"], result
    assert result["nudge"] in ("missing", "denied"), result
    assert result["victim_environ"] == "not found", result
    assert result["uid"] not in (0, os.getuid()), result
    assert result["victim_uid"] is not None, result
    assert result["victim_uid"] not in (0, result["uid"]), result
    # Its own pid namespace: the probe sees a handful of processes, not the machine's.
    assert result["pids"] < 10, result
    assert result["victim_up"], result


async def test_a_dyno_reaches_nothing_of_another_tenant_or_of_tenku(
    live: Live, owner: User, stranger: User
) -> None:
    assert local(live).sandbox is not None, "the sandbox is not enabled on this machine"
    result = await probe_from_a_dyno(live, owner, stranger)
    # What the dyno may do: write its own home, reach the router and its add-on servers.
    assert result["write_home"] == "done", result
    assert result["router"] == "done", result
    assert result["addon_server"] == "done", result
    assert_contained(result)


@pytest.mark.unsandboxed
async def test_without_the_sandbox_the_same_probe_finds_everything(
    live: Live, owner: User, stranger: User
) -> None:
    assert local(live).sandbox is None
    result = await probe_from_a_dyno(live, owner, stranger)
    assert result["secret_key"] == "done", result
    assert result["victim_environ"] == "found", result
    assert result["victim_port"] == "done", result
    assert result["local_service"] == "done", result
    assert result["local_udp_received"], result
    assert result["nudge"] == "done", result
    with pytest.raises(AssertionError):
        assert_contained(result)


PROBE_PACK_COMPILE = """#!/usr/bin/env bash
echo "uid=$(id -u)"
for f in {secret} {ca_key} {database}; do
  if head -c1 "$f" >/dev/null 2>&1; then echo "READ $f"; else echo "DENIED $f"; fi
done
echo "builds: $(ls {builds} 2>&1 | tr '\n' ' ')"
echo "data: $(ls {data} 2>&1 | tr '\n' ' ')"
if touch {data}/pwned 2>/dev/null; then echo "WROTE data"; else echo "DENIED data"; fi
echo "pids=$(ls /proc | grep -c '^[0-9]')"
touch "$1/built-here" && echo "WROTE build dir"
"""


async def test_a_build_step_runs_as_the_app_not_as_tenku(
    live: Live, owner: User, stranger: User
) -> None:
    data = live.settings.data_dir
    pack = live.tmp / "probe-pack"
    (pack / "bin").mkdir(parents=True)
    (pack / "bin" / "detect").write_text("#!/bin/sh\necho Probe\n")
    (pack / "bin" / "compile").write_text(
        PROBE_PACK_COMPILE.format(
            secret=data / "secret.key",
            ca_key=data / "tls" / "ca-key.pem",
            database=data / "tenku.db",
            builds=data / "builds",
            data=data,
        )
    )
    for script in (pack / "bin").iterdir():
        script.chmod(0o755)
    source = live.tmp / "probe-src"
    source.mkdir()
    (source / "Procfile").write_text("web: sleep 1\n")
    await stranger.create_app("probe-build")
    url = await live.upload(stranger, "probe-build", tarball(source, live.tmp / "probe-src.tgz"))
    build = await live.build(
        stranger, "probe-build", source_blob={"url": url}, buildpacks=[{"url": pack.as_uri()}]
    )
    done = await live.wait(stranger, "probe-build", build["id"])
    out = await live.output(stranger, "probe-build", build["id"])
    assert done["status"] == "succeeded", out
    uid = int(re.search(r"uid=(\d+)", out).group(1))  # type: ignore[union-attr]
    assert uid not in (0, os.getuid()), out
    assert "READ " not in out, out
    # Of the data directory only the path to this build's own directories is in view.
    data_line = re.search(r"^data: (.*)$", out, re.M).group(1).split()  # type: ignore[union-attr]
    assert set(data_line) <= {"builds", "build-cache"}, out
    builds = re.search(r"^builds: (.*)$", out, re.M).group(1).split()  # type: ignore[union-attr]
    assert builds == [build["id"]], out
    assert "DENIED data" in out, out
    assert "WROTE build dir" in out, out
    assert int(re.search(r"pids=(\d+)", out).group(1)) < 10, out  # type: ignore[union-attr]
    assert not (data / "pwned").exists()


async def test_a_build_cannot_point_tenku_at_host_files(live: Live, stranger: User) -> None:
    """After the steps Tenku itself deletes ignored files, writes .profile.d and packs the
    slug as root: a step that swaps the app's directory for a link must not aim that at the
    host."""
    canary_dir = live.tmp / "host-files"
    canary_dir.mkdir()
    canary = canary_dir / "precious.txt"
    canary.write_text("keep me")
    pack = live.tmp / "swap-pack"
    (pack / "bin").mkdir(parents=True)
    (pack / "bin" / "detect").write_text("#!/bin/sh\necho Swap\n")
    (pack / "bin" / "compile").write_text(
        f'#!/bin/sh\nmv "$1" "$1.real" && ln -s {canary_dir} "$1" && echo swapped\n'
    )
    (pack / "bin" / "release").write_text("#!/bin/sh\nprintf 'config_vars:\\n  A: b\\n'\n")
    for script in (pack / "bin").iterdir():
        script.chmod(0o755)
    source = live.tmp / "swap-src"
    source.mkdir()
    (source / ".slugignore").write_text("*.txt\n")
    (source / "Procfile").write_text("web: sleep 1\n")
    await stranger.create_app("swapper")
    # A lone top-level directory: the app's directory is one the app's uid may rename.
    url = await live.upload(
        stranger, "swapper", tarball(source, live.tmp / "swap-src.tgz", top="app")
    )
    build = await live.build(
        stranger, "swapper", source_blob={"url": url}, buildpacks=[{"url": pack.as_uri()}]
    )
    done = await live.wait(stranger, "swapper", build["id"])
    out = await live.output(stranger, "swapper", build["id"])
    assert "swapped" in out, out
    assert done["status"] == "failed", out
    assert "replaced the app's directory" in out, out
    assert await asyncio.to_thread(canary.read_text) == "keep me"
    assert not await asyncio.to_thread((canary_dir / ".profile.d").exists)


HIJACK = r"""
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"PWNED")
http.server.HTTPServer(("127.0.0.1", int(os.environ["GRAB"])), H).serve_forever()
"""


async def test_a_port_bound_by_another_app_never_takes_a_dyno_s_traffic(
    live: Live, owner: User, stranger: User
) -> None:
    """The stranger's dyno binds the port the runtime is about to give the owner's next web
    dyno: that dyno never counts as up on it, and the router never sends it traffic."""
    sched = local(live)
    grab = sched.new_port()
    source = live.tmp / "grabber"
    source.mkdir()
    (source / "grab.py").write_text(HIJACK)
    await stranger.create_app("grabber")
    await live.release_slug(stranger, "grabber", source, {"worker": "python3 grab.py"})
    r = await stranger.patch("/apps/grabber/config-vars", json={"GRAB": str(grab)})
    assert r.status_code == 200, r.text
    r = await stranger.patch("/apps/grabber/formation/worker", json={"quantity": 1})
    assert r.status_code == 200, r.text

    async def grabbed() -> bool:
        return grab in await asyncio.to_thread(procs.listeners)

    await until(grabbed, "the port grabbed")
    victim = await owner.create_app("hijacked")
    given = iter([grab])
    original = sched.new_port
    sched.new_port = lambda: next(given, None) or original()  # type: ignore[method-assign]
    crashed = "heroku[web.1]: State changed from starting to crashed"
    try:
        # The web process binds late: meanwhile only the stranger listens on its port.
        await live.release_slug(
            owner, "hijacked", APP_DIR, {"web": "sleep 3; exec python3 server.py"}
        )
        async with httpx.AsyncClient(
            base_url=live.router_url, timeout=30, trust_env=False
        ) as client:

            async def crashed_unrouted() -> bool:
                r = await client.get("/", headers={"Host": live.host("hijacked")})
                assert b"PWNED" not in r.content, r.text
                return await _has(live, victim["id"], crashed) is not None

            await until(crashed_unrouted, "the hijacked dyno crashed")
    finally:
        sched.new_port = original  # type: ignore[method-assign]
    text = await logs(live, victim["id"])
    first = re.search(r"heroku\[web\.1\]: State changed from starting to (\w+)", text)
    assert first is not None, text
    assert first.group(1) == "crashed", text
    # Restarted on a port of its own, it serves its own answers.
    await until(lambda: all_up(owner, "hijacked", {"web.1"}), "web.1 up on another port")
    assert await port_of(live, victim["id"], "web.1") != grab


async def test_a_dyno_cannot_fork_past_its_size_limit(live: Live, owner: User) -> None:
    """A fork bomb stops at the size's process limit (Standard-1X: 256), in its own cgroup."""
    assert local(live).sandbox is not None
    app = await deployed(live, owner, "forker")
    script = (
        "import threading, time\n"
        "n = 0\n"
        "try:\n"
        "    for _ in range(600):\n"
        "        threading.Thread(target=time.sleep, args=(5,), daemon=True).start(); n += 1\n"
        "except RuntimeError:\n"
        "    pass\n"
        "print('THREADS', n, flush=True)\n"
    )
    r = await owner.post(
        "/apps/forker/dynos", json={"command": f'python3 -c "{script}"', "attach": False}
    )
    assert r.status_code == 201, r.text
    name = r.json()["name"]
    text = await until(
        lambda: _has(live, app["id"], f"heroku[{name}]: State changed from up to complete"),
        "the fork bomb done",
    )
    count = int(re.search(r"THREADS (\d+)", text).group(1))  # type: ignore[union-attr]
    assert 100 < count < 256, text


# --- unpacking user tarballs inside the sandbox ------------------------------------------


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]], path: Path) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info, None


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


@pytest.fixture
def sandbox(live: Live) -> Sandbox:
    box = local(live).sandbox
    assert box is not None, "the sandbox is not enabled on this machine"
    return box


async def test_unpacking_happens_as_the_app_and_keeps_the_rules(
    live: Live, sandbox: Sandbox, tmp_path: Path
) -> None:
    uid = sandbox.uid_for(uuid.uuid4())
    limits = untar.Limits(64 << 20, 1000)
    good = _tar([_file("a/b.txt", b"hello"), _link("a/c", "b.txt")], tmp_path / "good.tgz")
    dest = live.settings.data_dir / "unpack-good"
    await sandbox.unpack(good, dest, limits, uid=uid)
    assert (dest / "a" / "b.txt").read_bytes() == b"hello"
    assert (dest / "a" / "b.txt").stat().st_uid == uid
    device = tarfile.TarInfo("dev")
    device.type = tarfile.CHRTYPE
    escapes: dict[str, list[tuple[tarfile.TarInfo, bytes | None]]] = {
        "dotdot": [_file("../../escaped")],
        "absolute": [_file("/tmp/escaped")],
        "symlink out": [_link("out", "/tmp"), _file("out/escaped")],
        "hardlink through a symlink": [
            _file("real"),
            _link("l", "."),
            _link("h", "l/real", hard=True),
        ],
        "device": [(device, None)],
    }
    # A chain of links that resolves past PATH_MAX, then a write through the last one.
    chain: list[tuple[tarfile.TarInfo, bytes | None]] = []
    step = "d" * 200
    for i in range(30):
        chain.append((tarfile.TarInfo(f"{step}{i}"), None))
        chain[-1][0].type = tarfile.DIRTYPE
        chain.append(_link(f"l{i}", f"{step}{i}/" + "../" * 1))
    chain.append(_link("escape", "l29/" + "../" * 40 + "tmp"))
    chain.append(_file("escape/escaped"))
    escapes["symlink chain past PATH_MAX"] = chain
    for what, members in escapes.items():
        bad = _tar(members, tmp_path / f"{what.replace(' ', '-')}.tgz")
        dest = live.settings.data_dir / f"unpack-{uuid.uuid4().hex[:6]}"
        with pytest.raises(untar.UnsafeArchive):
            await sandbox.unpack(bad, dest, limits, uid=uid)
        for escaped in (Path("/tmp/escaped"), live.settings.data_dir / "escaped"):
            assert not await asyncio.to_thread(escaped.exists), what


async def test_a_small_bomb_fails_at_the_limit_without_writing_past_it(
    live: Live, sandbox: Sandbox, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.tgz"
    size = 1 << 30
    info = tarfile.TarInfo("zeros")
    info.size = size
    with tarfile.open(bomb, "w:gz", compresslevel=1) as tar:
        await asyncio.to_thread(tar.addfile, info, io.BufferedReader(_Zeros(size)))
    assert bomb.stat().st_size < 8 << 20
    dest = live.settings.data_dir / "unpack-bomb"
    with pytest.raises(untar.UnsafeArchive, match="more than 64 MiB"):
        await sandbox.unpack(
            bomb, dest, untar.Limits(64 << 20, 1000), uid=sandbox.uid_for(uuid.uuid4())
        )
    written = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    assert written <= 64 << 20


def test_python_runs_the_unpacker_alone() -> None:
    """The sandbox runs untar.py's text with `-I -S`: it must import only the stdlib."""
    source = Path(untar.__file__).read_text()
    assert "from tenku" not in source
    assert "import tenku" not in source


# --- where the sandbox cannot run -----------------------------------------------------------


async def test_without_a_sandbox_nothing_runs_once_there_are_two_accounts(
    live: Live, owner: User, stranger: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TENKU_SANDBOX=auto on a machine that cannot sandbox: builds fail saying why, and
    dynos do not start, while more than one account exists (here: owner and stranger)."""
    sandbox = live.runtime.build_settings.sandbox
    assert sandbox is not None
    assert live.runtime.dynos is not None
    monkeypatch.setattr(sandbox, "enabled", False)
    monkeypatch.setattr(sandbox, "problems", ["bubblewrap (bwrap) is not installed"])
    monkeypatch.setattr(local(live), "sandbox", None)
    assert sandbox.refuses_shared_use
    app = await owner.create_app("unboxed")
    source = live.tmp / "unboxed-src"
    source.mkdir()
    (source / "Procfile").write_text("web: python3 server.py\n")
    url = await live.upload(owner, "unboxed", tarball(source, live.tmp / "unboxed.tgz"))
    build = await live.build(
        owner, "unboxed", source_blob={"url": url}, buildpacks=[{"url": "heroku/procfile"}]
    )
    done = await live.wait(owner, "unboxed", build["id"])
    out = await live.output(owner, "unboxed", build["id"])
    assert done["status"] == "failed", out
    assert "sandbox is unavailable (bubblewrap (bwrap) is not installed)" in out, out
    assert "TENKU_SANDBOX=off" in out, out
    # A slug released through the API gets no dyno either.
    await live.release_slug(owner, "unboxed", APP_DIR, {"web": "python3 server.py"})
    manager = live.runtime.dynos

    async def refused() -> bool:
        return manager._refused

    await until(refused, "the runtime refusing the app's dynos")
    assert local(live).backends(uuid.UUID(app["id"])) == ()
    assert "Starting process" not in await logs(live, app["id"])


def test_sandbox_on_refuses_to_start_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenku.config import Settings
    from tenku.runtime.worker import Runtime

    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, *a, **k: None if name == "bwrap" else real_which(name)
    )
    settings = Settings(
        data_dir=tmp_path, database_url="sqlite+aiosqlite:///:memory:", sandbox="on"
    )
    runtime = Runtime(settings)
    assert runtime.build_settings.sandbox is not None
    assert "bubblewrap" in runtime.build_settings.sandbox.description
    with pytest.raises(RuntimeError, match="TENKU_SANDBOX=on"):
        asyncio.run(runtime.start())


def test_the_network_rule_is_one_table_per_installation(tmp_path: Path) -> None:
    """Made at start, replaced when made again, gone at stop; a table whose data directory
    no longer exists is removed by the next installation that starts."""
    from tenku.runtime.netfilter import NetFilter, PortRange

    def tables() -> str:
        return subprocess.run(
            ["nft", "list", "tables"], capture_output=True, text=True, check=True
        ).stdout

    ports = PortRange.parse("61000-64999")
    gone_dir = tmp_path / "gone"
    gone_dir.mkdir()
    gone = NetFilter(str(gone_dir), ports)
    assert gone.install([]) is None
    assert gone.install([2_000_000]) is None
    assert tables().count(gone.table) == 1
    gone_dir.rmdir()
    live_dir = tmp_path / "live"
    live_dir.mkdir()
    alive = NetFilter(str(live_dir), ports)
    try:
        assert alive.install([]) is None
        listed = tables()
        assert alive.table in listed
        assert gone.table not in listed
    finally:
        alive.remove()
    assert alive.table not in tables()
    with pytest.raises(ValueError, match="range within 1024-65535"):
        PortRange.parse("80-90")


def connects_as(uid: int, port: int) -> bool:
    """Whether a process running as `uid` opens a TCP connection to 127.0.0.1:`port`."""
    done = subprocess.run(
        [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "bash",
            "-c",
            f"exec 3<>/dev/tcp/127.0.0.1/{port}",
        ],
        check=False,
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def test_the_operator_opens_private_networks_but_never_this_machine(tmp_path: Path) -> None:
    """TENKU_ALLOW_PRIVATE_TARGETS opens networks around the machine to dynos; its own
    addresses stay closed but for Tenku's public listeners and the add-on servers."""
    import ipaddress

    from tenku.runtime.netfilter import NetFilter, PortRange, Reach

    app_uid = uid_base()
    other_uid = app_uid + 1
    with (
        socket.create_server(("127.0.0.1", 0)) as service,
        socket.create_server(("127.0.0.1", 0)) as listener,
        socket.create_server(("127.0.0.1", 0)) as addon,
    ):
        ports = [s.getsockname()[1] for s in (service, listener, addon)]
        reach = Reach(
            listeners=(ports[1],),
            services=(("127.0.0.1", ports[2]),),
            networks=(ipaddress.ip_network("127.0.0.0/8"),),
        )
        rule = NetFilter(str(tmp_path), PortRange.parse("61000-64999"), reach)
        assert rule.install([app_uid]) is None
        try:
            assert [connects_as(app_uid, p) for p in ports] == [False, True, True]
            # Only the installation's apps are judged: not Tenku's uid, not a uid it has
            # not given an app yet (another installation's, say), until it does.
            assert connects_as(os.getuid(), ports[0])
            assert connects_as(other_uid, ports[0])
            assert rule.admit(other_uid) is None
            assert not connects_as(other_uid, ports[0])
        finally:
            rule.remove()
        assert connects_as(app_uid, ports[0])


def test_registries_and_the_proxy_builds_use_are_opened_where_they_resolve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry or proxy this machine reaches at a private address (a mirror, the way out)
    is opened to sandboxed code at that address, on its own ports only."""
    import dataclasses

    from tenku.config import load_settings
    from tenku.runtime.sandbox import reach_of

    monkeypatch.setenv("https_proxy", "http://127.0.0.1:3128")
    settings = dataclasses.replace(
        load_settings(data_dir=tmp_path),
        sandbox_registries=(
            "localhost:3141",
            "127.0.0.2",
            "ftp://127.0.0.3/",
            "https://[::1]:8443/simple",
        ),
    )
    services = set(reach_of(settings).services)
    assert {("127.0.0.1", 3128), ("127.0.0.1", 3141), ("::1", 8443)} <= services
    assert {("127.0.0.2", 80), ("127.0.0.2", 443)} <= services
    assert not any(address == "127.0.0.3" for address, _ in services)
    assert ("127.0.0.1", 5432) in services  # the add-on PostgreSQL server
