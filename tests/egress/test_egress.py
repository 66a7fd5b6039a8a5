"""The egress policy: what Tenku connects to and reads on a user's behalf.

Each attack is tried the way a user would make it (a source URL, a buildpack path, a log
drain, a partner add-on at a private address) and refused without telling what is there;
the same calls with the operator's allowance still work.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tenku.config import Settings
from tenku.egress import LOCAL_REFUSED, REFUSED, EgressPolicy, EgressRefused, reserved
from tenku.runtime import sources
from tests.addons.fake_partner import FakePartner
from tests.addons.support import as_user_of, install_manifest, manifest, other_api, partner
from tests.conftest import ApiClient, User
from tests.logs.test_drains import add_drain, deliver_once, set_foo, syslog

__all__ = ["partner"]  # the fixture

NONE = EgressPolicy()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.5.6.7",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
        "2002:c0a8:101::1",
    ],
)
def test_private_addresses_are_refused_by_default(address: str) -> None:
    assert not NONE.allows(address, ipaddress.ip_address(address))
    # The dynos' packet filter refuses them too: it is built from the same lists.
    assert reserved(ipaddress.ip_address(address))


def test_public_addresses_and_the_operators_allowance() -> None:
    assert NONE.allows("example.com", ipaddress.ip_address("93.184.216.34"))
    assert NONE.allows("x", ipaddress.ip_address("2606:4700::1111"))
    # Addresses that embed a public IPv4 address are as public as it is.
    assert NONE.allows("x", ipaddress.ip_address("64:ff9b::5db8:d822"))
    assert NONE.allows("x", ipaddress.ip_address("2002:5db8:d822::1"))
    for public in ("93.184.216.34", "2606:4700::1111", "64:ff9b::5db8:d822", "2002:5db8:d822::1"):
        assert not reserved(ipaddress.ip_address(public))
    policy = EgressPolicy.parse(["10.0.0.0/8", "logs.internal"])
    assert policy.allows("a", ipaddress.ip_address("10.9.8.7"))
    assert not policy.allows("a", ipaddress.ip_address("192.168.0.1"))
    assert policy.allows("logs.internal", ipaddress.ip_address("192.168.0.1"))


async def test_names_are_checked_after_resolution() -> None:
    with pytest.raises(EgressRefused):
        await NONE.resolve("localhost", 80)
    with pytest.raises(EgressRefused):
        await NONE.resolve("no-such-host.invalid", 80)
    assert await EgressPolicy.parse(["127.0.0.0/8"]).resolve("127.0.0.1", 80) == "127.0.0.1"


@contextlib.asynccontextmanager
async def web(host: str, answer: bytes) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


async def test_clients_check_every_connection_redirects_included() -> None:
    async with web("127.0.0.1", OK) as port:
        async with NONE.client() as client:
            with pytest.raises(EgressRefused):
                await client.get(f"http://127.0.0.1:{port}/")
        async with EgressPolicy.parse(["127.0.0.1"]).client() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/")).text == "ok"
        # An allowed target that redirects to a refused one: the second connection fails.
        hop = f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/\r\n"
        hop += "Content-Length: 0\r\nConnection: close\r\n\r\n"
        async with web("127.0.0.2", hop.encode()) as first:
            policy = EgressPolicy.parse(["127.0.0.2"])
            async with policy.client(follow_redirects=True) as client:
                with pytest.raises(EgressRefused):
                    await client.get(f"http://127.0.0.2:{first}/")


def closed(settings: Settings) -> Settings:
    """The defaults an operator gets: no private targets, no local source directories."""
    return dataclasses.replace(settings, allow_private_targets=(), local_source_dirs=())


async def test_a_loopback_source_url_is_refused_without_its_answer(
    settings: Settings, tmp_path: Path
) -> None:
    async with web("127.0.0.1", b"HTTP/1.1 418 Secret Service\r\nContent-Length: 0\r\n\r\n") as p:
        with pytest.raises(sources.SourceError) as caught:
            await sources.fetch_url(f"http://127.0.0.1:{p}/x.tgz", tmp_path / "x", closed(settings))
    # Nothing of the answer (the URL's own port may hold any digits).
    message = str(caught.value).split("://", 1)[0] + str(caught.value).split("/x.tgz", 1)[1]
    assert REFUSED in message
    assert "418" not in message
    assert "Secret" not in message
    assert not (tmp_path / "x").exists()


async def test_file_sources_answer_alike_whether_the_file_exists_or_not(
    settings: Settings, tmp_path: Path, local_sources: Path
) -> None:
    messages = []
    for url in ("file:///etc/passwd", "file:///no/such/file.tgz", f"file://{tmp_path}/a.tgz"):
        with pytest.raises(sources.SourceError) as caught:
            await sources.fetch_url(url, tmp_path / "x", settings)
        messages.append(str(caught.value).replace(url, "URL"))
    assert messages == [f"URL {LOCAL_REFUSED}."] * 3
    inside = local_sources / f"{uuid.uuid4().hex}.tgz"
    inside.write_bytes(b"x")
    assert await sources.fetch_url(inside.as_uri(), tmp_path / "x", settings) == inside


async def test_buildpack_paths_answer_alike_whether_they_exist_or_not(alice: User) -> None:
    await alice.create_app("bp-oracle")
    answers = []
    for path in ("/etc", "/usr/lib/python3", "/no/such/buildpack", "file:///etc/ssl"):
        body = {"updates": [{"buildpack": path}]}
        r = await alice.put("/apps/bp-oracle/buildpack-installations", json=body)
        assert r.status_code == 422, path
        answers.append(r.json()["message"].replace(path, "PATH"))
    assert len(set(answers)) == 1, answers
    assert LOCAL_REFUSED in answers[0]


async def test_a_drain_to_loopback_receives_nothing(
    alice: User, api: ApiClient, settings: Settings
) -> None:
    app = await alice.create_app()
    async with syslog() as receiver:
        await add_drain(alice, app, f"syslog://127.0.0.1:{receiver.port}")
        await set_foo(alice, app)
        await deliver_once(closed(settings), api)
        await asyncio.sleep(0.3)
        assert receiver.frames == []
        # The operator's allowance lets the same drain through.
        await deliver_once(settings, api)
        await asyncio.wait_for(receiver.arrived.wait(), 10)
        assert receiver.frames


async def test_a_partner_at_a_private_address_is_never_called(
    api: ApiClient, alice: User, settings: Settings, partner: FakePartner
) -> None:
    install_manifest(settings.data_dir, manifest(partner))
    await alice.create_app("egress-shop")
    async with other_api(api, settings, allow_private_targets=()) as client:
        r = await as_user_of(alice, client).post(
            "/apps/egress-shop/addons", json={"plan": "fake-partner:sync"}
        )
    assert r.status_code == 503, r.text
    assert partner.seen == []
    assert (await alice.get("/apps/egress-shop/addons")).json() == []
