"""pg:backups* and pg:copy through the real CLI: a backup captured, listed, described,
downloaded and restored, a schedule set and listed, a backup deleted and a database
copied into another, each checked against what the server holds."""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.addons.support import drop_pg
from tests.e2e.conftest import Heroku, LiveServer, json_of, styled_object

pytestmark = [pytest.mark.e2e, pytest.mark.backend("postgresql")]


@pytest.fixture
def addons_removed(api: httpx.Client, app: str) -> Iterator[None]:
    yield
    for addon in json_of(api.get(f"/apps/{app}/addons")):
        api.request("DELETE", f"/apps/{app}/addons/{addon['id']}", json={"force": True})
        drop_pg(uuid.UUID(addon["id"]))


def sql(url: str, query: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, args or None)
        return cur.fetchall() if cur.description else []


def notes(url: str) -> list[object]:
    return [row[0] for row in sql(url, "SELECT body FROM notes ORDER BY id")]


def config(heroku: Heroku, app: str) -> dict[str, str]:
    data: dict[str, str] = json.loads(heroku("config", "-a", app, "--json").stdout)
    return data


def transfers(api: httpx.Client, app: str) -> dict[int, dict[str, object]]:
    return {t["num"]: t for t in json_of(api.get(f"/client/v11/apps/{app}/transfers"))}


def test_backups_restores_schedules_and_copies(
    heroku: Heroku,
    server: LiveServer,
    api: httpx.Client,
    app: str,
    addons_removed: None,
    tmp_path: Path,
) -> None:
    heroku("addons:create", "heroku-postgresql:hobby-dev", "-a", app)
    [addon] = json_of(api.get(f"/apps/{app}/addons"))
    url = config(heroku, app)["DATABASE_URL"]
    sql(url, "CREATE TABLE notes (id serial PRIMARY KEY, body text)")
    sql(url, "INSERT INTO notes (body) VALUES ('written before the capture')")

    _, _, err = heroku("pg:backups:capture", "-a", app)
    assert "Backing up DATABASE to b001" in err
    backup = transfers(api, app)[1]
    assert backup["succeeded"] is True
    assert (backup["from_type"], backup["to_type"]) == ("pg_dump", "gof3r")
    size = backup["processed_bytes"]
    assert isinstance(size, int)
    assert size > 0

    out = heroku("pg:backups", "-a", app).stdout
    assert re.search(r"b001\s+\S+ \S+ \+0000\s+Completed", out), out
    info = heroku("pg:backups:info", "-a", app).stdout
    assert info.startswith("=== Backup b001")
    fields = styled_object(info)
    assert fields["Database"] == "DATABASE"
    assert fields["Status"] == "Completed"
    assert fields["Type"] == "Manual"
    assert 'pg_dump: dumping contents of table "public.notes"' in info

    public = heroku("pg:backups:url", "-a", app).stdout.strip()
    assert public.startswith(f"{server.https_url}/blobs/")
    verify = ssl.create_default_context(cafile=str(server.ca))
    body = httpx.get(public, verify=verify, trust_env=False).content
    assert len(body) == size
    assert body.startswith(b"PGDMP")

    dump = tmp_path / "latest.dump"
    heroku("pg:backups:download", "-a", app, "--output", str(dump))
    assert dump.read_bytes() == body
    listing = subprocess.run(
        ["pg_restore", "--list", str(dump)], capture_output=True, text=True, check=False
    )
    assert listing.returncode == 0, listing.stderr
    assert "TABLE public notes" in listing.stdout

    sql(url, "DELETE FROM notes")
    sql(url, "INSERT INTO notes (body) VALUES ('written after the capture')")
    heroku("pg:backups:restore", "--confirm", app, "-a", app)
    assert notes(url) == ["written before the capture"]
    restore = transfers(api, app)[2]
    assert restore["succeeded"] is True
    assert (restore["from_name"], restore["to_name"]) == ("b001", "DATABASE")

    heroku("pg:backups:schedule", "--at", "02:00 UTC", "-a", app)
    schedules = f"/client/v11/databases/{addon['id']}/transfer-schedules"
    [schedule] = json_of(api.get(schedules))
    assert (schedule["name"], schedule["hour"], schedule["timezone"]) == ("DATABASE_URL", 2, "UTC")
    out = heroku("pg:backups:schedules", "-a", app).stdout
    assert "DATABASE_URL: daily at 2:00 UTC" in out
    heroku("pg:backups:unschedule", "-a", app)
    assert json_of(api.get(schedules)) == []

    heroku("pg:backups:delete", "b001", "--confirm", app, "-a", app)
    assert 1 not in transfers(api, app)
    assert api.get(f"/client/v11/apps/{app}/transfers/1").status_code == 404
    assert httpx.get(public, verify=verify, trust_env=False).status_code == 404

    heroku("addons:create", "heroku-postgresql:hobby-dev", "-a", app)
    attachments = json_of(api.get(f"/apps/{app}/addon-attachments"))
    target = next(a["name"] for a in attachments if a["addon"]["id"] != addon["id"])
    target_url = config(heroku, app)[f"{target}_URL"]
    sql(target_url, "CREATE TABLE stale (x int)")
    color = target.removeprefix("HEROKU_POSTGRESQL_")
    heroku("pg:copy", "DATABASE_URL", f"{target}_URL", "--confirm", color, "-a", app)
    copy = transfers(api, app)[3]
    assert copy["succeeded"] is True
    assert (copy["from_type"], copy["to_type"]) == ("pg_dump", "pg_restore")
    assert notes(target_url) == ["written before the capture"]
    # pg:copy empties the target first, as it warns.
    assert sql(target_url, "SELECT to_regclass('public.stale')") == [(None,)]
    out = heroku("pg:backups", "-a", app).stdout
    assert "r002" in out
    assert "c003" in out
