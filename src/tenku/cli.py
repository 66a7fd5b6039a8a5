"""The `tenku` command: run the platform and administer it."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tenku.config import Settings, default_data_dir, load_settings
from tenku.db.engine import Database
from tenku.db.migrate import upgrade
from tenku.db.models import Account, Authorization
from tenku.mail import DeliveryError, Mailer
from tenku.privacy import loose_files, private_dir, private_process
from tenku.resources.oauth_authorization.schemas import MAX_EXPIRES_IN
from tenku.tls import tls_files

if TYPE_CHECKING:
    from tenku.runtime.addon_servers import AddonServers

T = TypeVar("T")


def prepare(settings: Settings) -> None:
    private_dir(settings.data_dir)
    upgrade(settings.database_url)
    for problem in loose_files(settings.data_dir):
        click.echo(
            f"warning: {problem}: other users of this machine can read Tenku's secrets "
            f"(chmod -R go-rwx {settings.data_dir})",
            err=True,
        )


def run_db(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async def go() -> T:
        db = Database(settings.database_url)
        try:
            async with db.session(write=True) as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    return asyncio.run(go())


data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="TENKU_DATA_DIR",
    help="Where Tenku keeps its database and files (env TENKU_DATA_DIR).",
)


@click.group()
def main() -> None:
    """Tenku: a self-hosted platform that speaks the Heroku Platform API."""


def client_env(settings: Settings, api_key: str | None = None) -> str:
    """The `export` lines that point the heroku CLI at this server: `eval "$(tenku env)"`."""
    url = settings.public_api_url
    values = {
        "HEROKU_HOST": url,
        # The CLI hands this to Node as a host name (no port: a `host:port` fails with
        # ENOTFOUND) and keeps HEROKU_HOST's port, where Tenku serves the Data API.
        "HEROKU_DATA_HOST": urlsplit(url).hostname or "127.0.0.1",
        "NODE_EXTRA_CA_CERTS": str(tls_files(settings.data_dir).ca_cert),
        "HEROKU_PARTICLEBOARD_URL": url,
        "HEROKU_BUILDPACK_REGISTRY_URL": url,
        "DISABLE_TELEMETRY": "true",
        "IS_HEROKU_TEST_ENV": "true",
        "HEROKU_SKIP_ANALYTICS": "1",
        "HEROKU_DISABLE_AUTOUPDATE": "1",
        "HEROKU_SKIP_NEW_VERSION_CHECK": "true",
    }
    if api_key is not None:
        values["HEROKU_API_KEY"] = api_key
    lines = [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    if api_key is None:
        lines.append(
            "# HEROKU_API_KEY is left as it is: `tenku env --user EMAIL` makes a key, "
            "or log in with `heroku login --interactive`"
        )
    plain = settings.http_api_url
    if plain is not None:
        lines += [
            "# or, for clients that cannot trust the CA, plain HTTP (git stays on HTTPS):",
            f"#   export HEROKU_HOST={shlex.quote(plain)} "
            f"HEROKU_GIT_HOST={shlex.quote(settings.git_host)}",
        ]
    return "\n".join(lines)


def git_ca_key(settings: Settings) -> str:
    """The git setting that trusts Tenku's CA for this server only."""
    return f"http.{settings.public_api_url}/.sslCAInfo"


def setup_hint(settings: Settings) -> str:
    """The commands that point a shell's heroku CLI and git at this server."""
    command = ["tenku"]
    if settings.data_dir != default_data_dir().resolve():
        command += ["--data-dir", str(settings.data_dir)]
    if settings.host != Settings.host:
        command += ["--host", settings.host]
    if settings.port != Settings.port:
        command += ["--port", str(settings.port)]
    if settings.http_port is not None:
        command += ["--http-port", str(settings.http_port)]

    def line(*args: str) -> str:
        return shlex.join([command[0], *args, *command[1:]])

    return "\n".join(
        [
            f'  eval "$({line("env", "--user", "you@example.com")})"',
            f"  {line('git-setup')}",
        ]
    )


def server_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that say where the server listens (the API URL clients are given)."""
    f = click.option("--host", envvar="TENKU_HOST", help="Address to listen on (env TENKU_HOST).")(
        f
    )
    f = click.option(
        "--http-port",
        type=int,
        envvar="TENKU_HTTP_PORT",
        help="Also serve plain HTTP on this port (env TENKU_HTTP_PORT).",
    )(f)
    return click.option(
        "--port", type=int, envvar="TENKU_PORT", help="HTTPS port (env TENKU_PORT)."
    )(f)


@main.command("env")
@data_dir_option
@server_options
@click.option(
    "--user",
    "email",
    default=None,
    help="Make a new API key for this account and export it as HEROKU_API_KEY.",
)
def env_command(
    data_dir: Path | None,
    port: int | None,
    http_port: int | None,
    host: str | None,
    email: str | None,
) -> None:
    """Print the environment for the heroku CLI: eval "$(tenku env --user EMAIL)"."""
    settings = load_settings(data_dir=data_dir, port=port, host=host, http_port=http_port)
    key = None
    if email is not None:
        prepare(settings)
        key = mint_token(settings, email, "tenku env", ["global"])
    if not tls_files(settings.data_dir).ca_cert.exists():
        click.echo("warning: Tenku has no certificate authority yet; `tenku up` makes it", err=True)
    click.echo(client_env(settings, key))


@main.command("git-setup")
@data_dir_option
@server_options
def git_setup(
    data_dir: Path | None, port: int | None, http_port: int | None, host: str | None
) -> None:
    """Make git trust Tenku's CA for this server (git config --global)."""
    settings = load_settings(data_dir=data_dir, port=port, host=host, http_port=http_port)
    ca = tls_files(settings.data_dir).ca_cert
    key = git_ca_key(settings)
    try:
        subprocess.run(["git", "config", "--global", key, str(ca)], check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise click.ClickException(f"git config failed: {err}") from err
    click.echo(f"git config --global {key} {ca}", err=True)
    if os.environ.get("GIT_SSL_CAINFO"):
        click.echo(
            f"warning: GIT_SSL_CAINFO is set ({os.environ['GIT_SSL_CAINFO']}); it overrides "
            "the line above, so pushes to Tenku fail unless it names Tenku's CA: unset it",
            err=True,
        )


@main.command()
@data_dir_option
@server_options
@click.option("--workers", type=int, default=1, envvar="TENKU_WORKERS", show_default=True)
def up(
    data_dir: Path | None,
    port: int | None,
    http_port: int | None,
    host: str | None,
    workers: int,
) -> None:
    """Create the data directory, migrate the database and serve the platform."""
    from tenku.serving import run
    from tenku.tls import TlsError, ensure_tls

    settings = load_settings(data_dir=data_dir, port=port, host=host, http_port=http_port)
    if settings.http_port is not None and settings.http_port == settings.port:
        raise click.UsageError("--http-port must differ from --port")
    mailer = mailer_of(settings)
    prepare(settings)
    try:
        ensure_tls(settings)
    except TlsError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"Tenku {settings.public_api_url} (data in {settings.data_dir})", err=True)
    if settings.http_api_url is not None:
        click.echo(f"Plain HTTP on {settings.http_api_url}", err=True)
    routed = [
        f"{scheme}://<app>.{settings.base_domain}:{p}"
        for scheme, p in (("https", settings.router_https_port), ("http", settings.router_port))
        if p is not None
    ]
    if routed:
        click.echo(f"Apps answer at {' and '.join(routed)}", err=True)
    click.echo(
        f"heroku run attaches on {settings.public_host}:{settings.rendezvous_port} (TLS)", err=True
    )
    sent = f", sent through {mailer.target}" if mailer.target else ""
    click.echo(f"Mail goes to {mailer.outbox.directory}{sent} (`tenku mail list`)", err=True)
    click.echo("Point the heroku CLI and git at it with:\n" + setup_hint(settings) + "\n", err=True)
    check_sandbox(settings)
    servers = start_addon_servers(settings)
    # Settings that other Tenku processes (workers, the runtime) read from the environment.
    os.environ.update(
        TENKU_DATA_DIR=str(settings.data_dir),
        TENKU_DATABASE_URL=settings.database_url,
        TENKU_PORT=str(settings.port),
        TENKU_HOST=settings.host,
        **servers.env,
    )
    if settings.http_port is not None:
        os.environ["TENKU_HTTP_PORT"] = str(settings.http_port)
    from tenku.runtime.worker import Supervisor, spawn

    # Exactly one build runtime, whatever the number of API workers, started again if it dies.
    runtime = Supervisor(settings, lambda: spawn(settings))
    # SIGTERM stops `tenku up` as ^C does (the listeners hand it on once they have stopped),
    # so that the blocks below stop the runtime and then the add-on servers in turn.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        runtime.start()
        try:
            run(settings, workers=workers)
        finally:
            runtime.stop()
    finally:
        # After the runtime: dynos stop while their databases still answer.
        servers.stop()


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def start_addon_servers(settings: Settings) -> AddonServers:
    """Start the managed add-on servers the settings ask for (and `auto` chooses)."""
    from tenku.runtime.addon_servers import AddonServers, ServerError, providers_in_use

    async def in_use(db: AsyncSession) -> set[str]:
        return await providers_in_use(db, settings)

    servers = AddonServers.choose(settings, run_db(settings, in_use))
    try:
        servers.start()
    except ServerError as err:
        raise click.ClickException(str(err)) from err
    for line in servers.describe():
        click.echo(f"Add-on server: {line}", err=True)
    return servers


def check_sandbox(settings: Settings) -> None:
    """Say on every start what isolates builds and dynos; refuse to start without it when
    TENKU_SANDBOX=on."""
    from tenku.runtime.sandbox import Sandbox

    sandbox = Sandbox(settings)
    if sandbox.enabled:
        click.echo(f"Builds and dynos run sandboxed: {sandbox.description}", err=True)
    elif settings.sandbox == "on":
        raise click.ClickException(f"TENKU_SANDBOX=on, but {sandbox.description}")
    elif settings.sandbox == "off":
        click.echo(f"WARNING: UNSAFE between users: the sandbox is {sandbox.description}", err=True)
    else:
        click.echo(f"WARNING: {sandbox.refusal}", err=True)


@main.command()
@data_dir_option
def runtime(data_dir: Path | None) -> None:
    """Run the build runtime alone (`tenku up` starts one itself)."""
    import logging

    from tenku.runtime.worker import serve

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    settings = load_settings(data_dir=data_dir)
    prepare(settings)
    asyncio.run(serve(settings))


@main.command()
@data_dir_option
def migrate(data_dir: Path | None) -> None:
    """Upgrade the database schema in place."""
    settings = load_settings(data_dir=data_dir)
    prepare(settings)
    click.echo("database is up to date", err=True)


@main.group()
def users() -> None:
    """Manage user accounts."""


@users.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default=None)
@data_dir_option
def users_create(email: str, password: str, name: str | None, data_dir: Path | None) -> None:
    """Create a user; prints its API key alone on stdout."""
    from tenku.resources.account.service import create_account
    from tenku.resources.oauth_authorization.tokens import mint_authorization
    from tenku.web.errors import ApiError

    settings = load_settings(data_dir=data_dir)
    prepare(settings)

    async def work(db: AsyncSession) -> str:
        account = await create_account(db, email, password, name)
        _, token, _ = await mint_authorization(
            db, account, description="API Key", scope=["global"], is_api_key=True
        )
        return token

    try:
        click.echo(run_db(settings, work))
    except ApiError as err:
        raise click.ClickException(err.message) from err


@users.command("list")
@data_dir_option
def users_list(data_dir: Path | None) -> None:
    """List users: id, email, name."""
    settings = load_settings(data_dir=data_dir)
    prepare(settings)

    async def work(db: AsyncSession) -> list[Any]:
        return list((await db.execute(select(Account).order_by(Account.email))).scalars())

    for account in run_db(settings, work):
        click.echo(f"{account.id}\t{account.email}\t{account.name or ''}")


@users.command("two-factor-off")
@click.argument("email")
@data_dir_option
def users_two_factor_off(email: str, data_dir: Path | None) -> None:
    """Turn a user's two-factor authentication off (a lost device and no recovery code)."""
    from tenku.resources.account.service import find_account
    from tenku.resources.otp_secret.service import turn_off

    settings = load_settings(data_dir=data_dir)
    prepare(settings)

    async def work(db: AsyncSession) -> bool:
        account = await find_account(db, email)
        if account is None:
            return False
        await turn_off(db, account)
        return True

    if not run_db(settings, work):
        raise click.ClickException(f"no such user: {email}")
    click.echo("two-factor authentication is off", err=True)


@main.group()
def teams() -> None:
    """Manage teams."""


@teams.command("create")
@click.argument("name")
@click.option("--admin", "admin_email", required=True, help="Email of the team's first admin.")
@data_dir_option
def teams_create(name: str, admin_email: str, data_dir: Path | None) -> None:
    """Create a team with a first admin; prints its id and name."""
    from tenku.resources.account.service import find_account
    from tenku.resources.organization.service import create_team
    from tenku.web.errors import ApiError

    settings = load_settings(data_dir=data_dir)
    prepare(settings)

    async def work(db: AsyncSession) -> tuple[str, str] | None:
        admin = await find_account(db, admin_email)
        if admin is None:
            return None
        team, _ = await create_team(db, name, admin)
        return str(team.id), team.name

    try:
        made = run_db(settings, work)
    except ApiError as err:
        raise click.ClickException(err.message) from err
    if made is None:
        raise click.ClickException(f"no such user: {admin_email}")
    click.echo("\t".join(made))


@main.group()
def tokens() -> None:
    """Mint, list and revoke API tokens."""


@tokens.command("create")
@click.argument("email")
@click.option("--description", default="Minted by the operator")
@click.option("--scope", default="global", help="Comma-separated scopes.")
@click.option(
    "--expires-in",
    type=click.IntRange(1, MAX_EXPIRES_IN),
    default=None,
    help="Lifetime in seconds.",
)
@data_dir_option
def tokens_create(
    email: str, description: str, scope: str, expires_in: int | None, data_dir: Path | None
) -> None:
    """Mint a token for a user; prints the token alone on stdout."""
    from tenku.resources.oauth_authorization.tokens import VALID_SCOPES

    scopes = [s.strip() for s in scope.split(",") if s.strip()]
    bad = [s for s in scopes if s not in VALID_SCOPES]
    if bad or not scopes:
        raise click.ClickException(f"unknown scope: {', '.join(bad) or '(none)'}")
    settings = load_settings(data_dir=data_dir)
    prepare(settings)
    click.echo(mint_token(settings, email, description, scopes, expires_in))


def mint_token(
    settings: Settings,
    email: str,
    description: str,
    scopes: list[str],
    expires_in: int | None = None,
) -> str:
    """A new token for the account with this email (ClickException when there is none)."""
    from tenku.resources.account.service import find_account
    from tenku.resources.oauth_authorization.tokens import mint_authorization

    async def work(db: AsyncSession) -> str | None:
        account = await find_account(db, email)
        if account is None:
            return None
        _, token, _ = await mint_authorization(
            db, account, description=description, scope=scopes, expires_in=expires_in
        )
        return token

    token = run_db(settings, work)
    if token is None:
        raise click.ClickException(f"no such user: {email}")
    return token


@tokens.command("list")
@click.argument("email")
@data_dir_option
def tokens_list(email: str, data_dir: Path | None) -> None:
    """List a user's tokens: id, scopes, description (tokens themselves are not stored)."""
    settings = load_settings(data_dir=data_dir)
    prepare(settings)

    async def work(db: AsyncSession) -> list[Authorization]:
        rows = await db.execute(
            select(Authorization)
            .join(Account, Account.id == Authorization.account_id)
            .where(Account.email == email.strip().lower())
            .order_by(Authorization.created_at)
        )
        return list(rows.scalars())

    for auth in run_db(settings, work):
        # An OAuth client's authorization has no access token until its code is exchanged.
        hint = auth.access_token_hint or "-"
        click.echo(f"{auth.id}\t{','.join(auth.scope)}\t{hint}\t{auth.description}")


@tokens.command("revoke")
@click.argument("token_id")
@data_dir_option
def tokens_revoke(token_id: str, data_dir: Path | None) -> None:
    """Revoke a token by its authorization id."""
    from tenku.ids import as_uuid

    uid = as_uuid(token_id)
    if uid is None:
        raise click.ClickException("give the authorization id shown by `tenku tokens list`")
    settings = load_settings(data_dir=data_dir)
    prepare(settings)

    async def work(db: AsyncSession) -> bool:
        auth = await db.get(Authorization, uid)
        if auth is None:
            return False
        await db.delete(auth)
        return True

    if not run_db(settings, work):
        raise click.ClickException(f"no such token: {token_id}")
    click.echo("revoked", err=True)


@main.group()
def mail() -> None:
    """Read the mail Tenku sent (invitations) and send it again."""


def mailer_of(settings: Settings) -> Mailer:
    try:
        return Mailer.of(settings)
    except ValueError as err:
        raise click.ClickException(str(err)) from err


def _mailer(data_dir: Path | None) -> Mailer:
    return mailer_of(load_settings(data_dir=data_dir))


@mail.command("list")
@data_dir_option
def mail_list(data_dir: Path | None) -> None:
    """List the outbox, oldest first: id, date, to, subject, delivery."""
    for message in _mailer(data_dir).outbox.messages():
        date = message.date.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        click.echo(f"{message.id}\t{date}\t{message.to}\t{message.subject}\t{message.delivery}")


@mail.command("show")
@click.argument("message_id")
@data_dir_option
def mail_show(message_id: str, data_dir: Path | None) -> None:
    """Print one message whole."""
    message = _mailer(data_dir).outbox.read(message_id)
    if message is None:
        raise click.ClickException(f"no such message: {message_id}")
    click.echo(message.text())


@mail.command("resend")
@click.argument("message_id")
@data_dir_option
def mail_resend(message_id: str, data_dir: Path | None) -> None:
    """Send one message of the outbox again through TENKU_SMTP_URL."""
    mailer = _mailer(data_dir)
    message = mailer.outbox.read(message_id)
    if message is None:
        raise click.ClickException(f"no such message: {message_id}")
    try:
        asyncio.run(mailer.deliver(message))
    except DeliveryError as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"sent to {message.to}", err=True)


@main.group()
def sms() -> None:
    """Text messages Tenku sent (kept in the data directory unless TENKU_SMS_WEBHOOK_URL)."""


@sms.command("list")
@data_dir_option
def sms_list(data_dir: Path | None) -> None:
    """List the messages in the outbox, oldest first: time, number, text."""
    from tenku.sms import outbox

    settings = load_settings(data_dir=data_dir)
    for message in outbox(settings).messages():
        text = " ".join(str(message.get("body", "")).split())
        click.echo(f"{message.get('created_at', '')}\t{message.get('to', '')}\t{text}")


def run() -> None:
    """The `tenku` command: whatever it creates is its owner's only."""
    private_process()
    main()


if __name__ == "__main__":
    private_process()
    sys.exit(main())
