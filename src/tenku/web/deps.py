"""Request plumbing: one transaction per request, JSON bodies, auth and scopes."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from tenku.db.engine import OwnReads
from tenku.db.models import Account, Authorization
from tenku.db.reads import Reads, SessionReads
from tenku.nudge import nudge
from tenku.web.context import AppContext
from tenku.web.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InvalidParams,
    RateLimited,
    Unauthorized,
)
from tenku.web.login import CODE_HEADER, password_login
from tenku.web.middleware import SLASH

log = logging.getLogger("tenku.api")
M = TypeVar("M", bound=BaseModel)
AfterCommit = Callable[[], Awaitable[None]]


def app_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def _context(request: Request) -> AppContext:
    # FastAPI runs a plain `def` dependency in a thread pool: a thread hop for an attribute.
    return app_context(request)


def _session(request: Request, write: bool) -> AsyncSession:
    db: AsyncSession | None = getattr(request.state, "db", None)
    if db is None:
        db = app_context(request).db.session(write=write)
        request.state.db = db
    return db


# Set in the scope of a request whose route only reads, whatever its method.
READS_ONLY = "tenku.reads_only"


def _writes(request: Request) -> bool:
    return request.method not in ("GET", "HEAD") and READS_ONLY not in request.scope


def request_session(request: Request) -> AsyncSession:
    """The request's one session: a writer unless the method is GET or HEAD or the route
    declared that it only reads (`ReadDb`)."""
    return _session(request, write=_writes(request))


def request_reads(request: Request) -> Reads:
    """Where the request's Core reads run. A read request gets reads of its own (a
    `Snapshot` on SQLite, `Autocommitted` on PostgreSQL) unless its session has begun
    already (a request is one transaction), and a route that takes them reads through
    them alone; any other request, its session."""
    reads: Reads | None = getattr(request.state, "reads", None)
    if reads is None:
        db: AsyncSession | None = getattr(request.state, "db", None)
        fresh = db is None or not db.in_transaction()
        own = app_context(request).db.request_reads() if fresh and not _writes(request) else None
        reads = own or SessionReads(request_session(request))
        request.state.reads = reads
    return reads


async def get_reads(request: Request) -> Reads:
    return request_reads(request)


async def get_db(request: Request) -> AsyncSession:
    """The request's one session: a writer unless the method is GET or HEAD."""
    return request_session(request)


async def get_read_db(request: Request) -> AsyncSession:
    """For POST endpoints that only read (filters, resolves): no write lock on SQLite.
    The route is marked before its dependencies run (`TransactionRoute`), so the session
    the caller's authentication opens first is already the reader."""
    return _session(request, write=False)


def _declares(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_declares(d, call) for d in dependant.dependencies)


def after_commit(request: Request, hook: AfterCommit) -> None:
    """Run `hook` once the request's transaction has committed (runtime side effects)."""
    _hooks(request).append(hook)


def after_rollback(request: Request, hook: AfterCommit) -> None:
    """Run `hook` once the request has failed and its transaction is rolled back and
    closed: what must be written although the request is not (a failed attempt)."""
    _hooks(request, "after_rollback").append(hook)


def _hooks(request: Request, kind: str = "after_commit") -> list[AfterCommit]:
    hooks: list[AfterCommit] | None = getattr(request.state, kind, None)
    if hooks is None:
        hooks = []
        setattr(request.state, kind, hooks)
    return hooks


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _is_coroutine(call: Any) -> bool:
    """An async function, or an object whose `__call__` is one (a dependency class)."""
    method = call if inspect.isfunction(call) else type(call).__call__
    return inspect.iscoroutinefunction(method)


def _needs_fastapi(dependant: Dependant) -> bool:
    """Whether FastAPI must make some of the parameters: query, header, cookie or body
    fields, or its special ones (the response, background tasks, security scopes...)."""
    return bool(
        dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or dependant.body_params
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
        or dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
    )


def _takes_only_the_request(dependant: Dependant) -> bool:
    """A dependency called with the request alone, as most of Tenku's are (`Scoped`,
    `AppAccess`, `JsonBody`, the session and the context)."""
    return (
        _is_coroutine(dependant.call)
        and not dependant.dependencies
        and not dependant.path_params
        and not _needs_fastapi(dependant)
    )


def direct_handler(dependant: Dependant) -> Handler | None:
    """The route's endpoint called straight, when FastAPI's solving has nothing to add.

    That is: an async endpoint that returns a Response itself, whose parameters are the
    request, path parameters taken as plain strings, and dependencies that take only the
    request. FastAPI would validate nothing and build no response for such a route, yet
    its dependency solving cost about a tenth of a small request. None for any other
    route, which FastAPI's handler serves.
    """
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call):
        return None
    returns = get_typed_return_annotation(call)
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None
    if (
        _needs_fastapi(dependant)
        or any(p.field_info.annotation is not str for p in dependant.path_params)
        or not all(_takes_only_the_request(d) for d in dependant.dependencies)
    ):
        return None
    # FastAPI calls a dependency once per request however many parameters name it.
    calls = {d.call for d in dependant.dependencies}
    dependencies = [(d.name, d.call) for d in dependant.dependencies]
    paths = [p.name for p in dependant.path_params]
    request_name = dependant.request_param_name
    shared = len(calls) < len(dependencies)

    async def handle(request: Request) -> Response:
        values: dict[str, Any] = {name: request.path_params[name] for name in paths}
        if request_name is not None:
            values[request_name] = request
        made: dict[Any, Any] = {}
        for name, dependency in dependencies:
            assert name is not None
            assert dependency is not None
            if shared and dependency in made:
                values[name] = made[dependency]
                continue
            values[name] = made[dependency] = await dependency(request)
        response: Response = await call(**values)
        return response

    return handle


class TransactionRoute(APIRoute):
    """Commits the request's one transaction after the route returns, then runs hooks."""

    def get_route_handler(self) -> Handler:
        overridable = getattr(self.dependency_overrides_provider, "dependency_overrides", None)
        handler = (
            None if overridable else direct_handler(self.dependant)
        ) or super().get_route_handler()
        reads_only = _declares(self.dependant, get_read_db)

        async def run(request: Request) -> Response:
            if reads_only:
                request.scope[READS_ONLY] = True
            params = request.scope.get("path_params") or {}
            for k, v in params.items():
                if isinstance(v, str) and SLASH in v:
                    params[k] = v.replace(SLASH, "/")
            try:
                response = await handler(request)
                db: AsyncSession | None = getattr(request.state, "db", None)
                if db is not None and not db.in_transaction():
                    # Nothing began: nothing to commit, nothing to give back.
                    request.state.db = None
                elif db is not None:
                    try:
                        await db.commit()
                    except IntegrityError as exc:
                        raise Conflict(
                            "The request conflicts with a concurrent change; please retry."
                        ) from exc
                for hook in getattr(request.state, "after_commit", []):
                    await hook()
                if request.method not in READ_METHODS:
                    # Any write may change what should run (formation, config, release,
                    # maintenance, features, one-off dynos): the runtime re-reads it.
                    nudge(app_context(request).settings)
                return response
            except BaseException:
                db = getattr(request.state, "db", None)
                if db is not None:
                    await db.rollback()
                    # The writer (SQLite's only one) is free for the hooks' own sessions.
                    await db.close()
                    request.state.db = None
                for hook in getattr(request.state, "after_rollback", []):
                    try:
                        await hook()
                    except Exception:
                        # The request's own error is the answer; this one is only logged.
                        log.exception("after-rollback hook failed")
                raise
            finally:
                reads = getattr(request.state, "reads", None)
                if isinstance(reads, OwnReads):
                    await reads.aclose()
                db = getattr(request.state, "db", None)
                if db is not None:
                    await db.close()

        return run


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object body; an empty body (or `null`) counts as `{}`."""
    raw = await request.body()
    data: Any = None
    if raw.strip():
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise BadRequest("Request body wasn't valid JSON.") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object.")
    _check_body(data)
    return data


# Deeper than any documented body (app.json in an app setup is the deepest, at about 5).
MAX_DEPTH = 32


def _check_body(data: Any) -> None:
    """No request body nests deeper than MAX_DEPTH, and every string in it is valid UTF-8
    without NUL (JSON's escapes can make lone surrogates and `\u0000`, which nothing
    downstream can store: PostgreSQL refuses NUL in text, a process environment ends at it).
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise BadRequest(f"Request body nests deeper than {MAX_DEPTH} levels.")
        if isinstance(item, dict):
            stack.extend((k, depth) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidParams("Request body holds a string that is not valid UTF-8.") from exc
            if "\0" in item:
                raise InvalidParams("Request body holds a string with a NUL byte.")


class JsonBody(Generic[M]):
    """Dependency: the JSON body parsed into `model`, which the API's schemas document.

    A route whose body needs checks of its own overrides `parse`, keeping `model` to say
    what the body looks like."""

    def __init__(self, model: type[M]) -> None:
        self.model = model

    def parse(self, data: dict[str, Any]) -> Any:
        try:
            return self.model.model_validate(data)
        except ValidationError as exc:
            raise invalid_params(exc) from exc

    async def __call__(self, request: Request) -> Any:
        return self.parse(await json_object(request))


def body(model: type[M]) -> Any:
    """Parse the JSON body into `model`; an empty body counts as `{}`."""
    return Depends(JsonBody(model))


def invalid_params(exc: ValidationError) -> InvalidParams:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"] if not isinstance(p, int)) or "body"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return InvalidParams(f"Invalid {loc} provided: {msg}.".replace("..", "."))


# Which token scopes grant each kind of access (the `global` scope grants all).
SCOPE_GRANTS: dict[str, frozenset[str]] = {
    "account:read": frozenset({"identity"}),
    "account:write": frozenset(),
    "app:read": frozenset({"read", "write", "read-protected", "write-protected"}),
    "app:write": frozenset({"write", "write-protected"}),
    "secrets:read": frozenset({"read-protected", "write-protected"}),
    "secrets:write": frozenset({"write-protected"}),
    "global": frozenset(),
}


@dataclass
class Principal:
    # The caller's account as authentication found it: for a token, the cache's copy,
    # which no session holds and every request with that token shares. Read its columns
    # (`known.id`, `known.email`) freely; change the account through `account`.
    known: Account
    authorization: Authorization | None
    scopes: frozenset[str]
    # The token this request presented (None after a password login).
    token: str | None = None
    _session: Callable[[], AsyncSession] | None = field(default=None, repr=False)
    _attached: Account | None = field(default=None, repr=False)

    @property
    def account(self) -> Account:
        """The account in the request's session, for services to read and change. Put
        there on first use: a merge costs about a tenth of a small request, and most
        requests need only the account's id."""
        if self._attached is None:
            session = self._session
            # A merge that loads nothing does no I/O: no trip through the async session.
            self._attached = (
                self.known
                if session is None
                else session().sync_session.merge(self.known, load=False)
            )
        return self._attached

    def attach(self, session: AsyncSession | Callable[[], AsyncSession]) -> None:
        """Make `account` the copy in `session` (the request's own, or what makes it when
        first needed) once it is asked for."""
        self._session = session if callable(session) else lambda: session
        self._attached = None

    def allows(self, need: str) -> bool:
        if need == "any" or "global" in self.scopes:
            return True
        return bool(self.scopes & SCOPE_GRANTS[need])

    def require(self, need: str) -> None:
        if not self.allows(need):
            raise Forbidden(
                f"This token's scope ({', '.join(sorted(self.scopes))}) does not allow this action."
            )


def _credentials(request: Request) -> tuple[str | None, str | None]:
    """(token, basic user) from the Authorization header."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value, None
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized() from exc
        user, _, password = decoded.partition(":")
        return password or None, user or None
    return None, None


def client_address(request: Request) -> str:
    """Who is calling: the peer's address. uvicorn puts the client a trusted proxy names in
    X-Forwarded-For there (TENKU_TRUSTED_PROXIES); from anyone else the header is ignored."""
    return request.client.host if request.client else "unknown"


async def _by_password(
    request: Request,
    email: str,
    password: str,
    second_factor: bool = True,
    code: str | None = None,
) -> Principal:
    """`code`: the second factor, when it comes other than in `Heroku-Two-Factor-Code`."""
    account = await password_login(
        app_context(request),
        client_address(request),
        email,
        password,
        code if code is not None else request.headers.get(CODE_HEADER),
        second_factor=second_factor,
    )
    return Principal(account, None, frozenset({"global"}))


async def page_login(
    request: Request, email: str, password: str, code: str | None
) -> Principal | None:
    """An email, password and (for accounts with two-factor on) code typed into a page (the
    OAuth approval page): the one check every password login makes (`login.password_login`,
    whose second-factor and lock-out errors pass through), spending the rate-limit budget
    as API password logins do: a failed attempt the client address's, a good one the
    account's. None for a wrong email or password."""
    try:
        principal: Principal | None = await _by_password(request, email, password, code=code)
    except Unauthorized:
        principal = None
    subject = f"account:{principal.known.id}" if principal else f"ip:{client_address(request)}"
    allowed, _ = await app_context(request).ratelimiter.consume(subject)
    if not allowed:
        raise RateLimited()
    return principal


async def authenticate(
    request: Request,
    db: AsyncSession | None = None,
    password_login: bool = False,
    count: bool = True,
    second_factor: bool = True,
) -> Principal:
    token, user = _credentials(request)
    ctx = app_context(request)
    principal: Principal | None = None
    allowed, remaining = True, None
    # The caller comes from memory (or a short read of its own, before the request's
    # transaction begins), and the budget is spent in memory.
    if token:
        holder = await ctx.tokens.holder(token)
        if holder is not None:
            principal = Principal(
                holder.account,
                holder.authorization,
                frozenset(holder.authorization.scope),
                token,
            )
    if principal is not None and count:
        allowed, remaining = await ctx.ratelimiter.consume(f"account:{principal.known.id}")
    elif principal is None and count and not (password_login and user and token):
        allowed, remaining = await ctx.ratelimiter.consume(f"ip:{client_address(request)}")
    if principal is None and password_login and user and token:
        try:
            principal = await _by_password(request, user, token, second_factor)
        except ApiError:
            # Failed password attempts spend the client's budget, which slows guessing.
            allowed, _ = await ctx.ratelimiter.consume(f"ip:{client_address(request)}")
            if not allowed:
                raise RateLimited() from None
            raise
        allowed, remaining = await ctx.ratelimiter.consume(f"account:{principal.known.id}")
    if principal is not None and not count:
        remaining = await ctx.ratelimiter.remaining(f"account:{principal.known.id}")
    if remaining is not None:
        request.state.ratelimit_remaining = remaining
    if not allowed:
        raise RateLimited()
    if principal is None:
        if not request.headers.get("authorization"):
            raise Unauthorized(
                "There were no credentials in your `Authorization` header. Try "
                "`Authorization: Bearer <OAuth access token>` or "
                '`Authorization: Basic <base64-encoded email + ":" + password>`.'
            )
        raise Unauthorized()
    if principal.known.suspended_at is not None:
        raise Forbidden("This account is suspended.")
    # The account joins the request's session when a service asks for it; the
    # authorization is only read (its id, client, expiry), so the cached copy serves.
    principal.attach(db if db is not None else partial(request_session, request))
    request.state.principal = principal
    return principal


class Credentials:
    """Base of the dependencies that authenticate the caller: the API's schemas document
    every route that depends on one as needing credentials."""

    # Whether an email and password (HTTP Basic) do instead of a token.
    password_login: bool = False


class Scoped(Credentials):
    """Dependency: the authenticated caller, whose token must grant `need`."""

    def __init__(
        self,
        need: str,
        password_login: bool = False,
        count: bool = True,
        second_factor: bool = True,
    ) -> None:
        self.need = need
        self.password_login = password_login
        self.count = count
        # Whether a password login needs the second factor too (two-factor accounts).
        self.second_factor = second_factor

    async def __call__(self, request: Request) -> Principal:
        # The request's session is made when first needed, not declared as a dependency
        # of this one: FastAPI's solving of a nested dependency cost about as much as
        # authenticating, and a route that reads through its own reads needs none.
        return await self.resolve(request)

    async def resolve(self, request: Request, db: AsyncSession | None = None) -> Principal:
        principal = await authenticate(
            request,
            db,
            password_login=self.password_login,
            count=self.count,
            second_factor=self.second_factor,
        )
        principal.require(self.need)
        return principal


def scoped(
    need: str, password_login: bool = False, count: bool = True, second_factor: bool = True
) -> Any:
    """Dependency: the authenticated caller, whose token must grant `need`."""
    return Depends(Scoped(need, password_login, count, second_factor))


# The parameters routes declare, each an `Annotated` alias so a route's signature says
# what it gets: `db: Db`, `caller: AccountReader`. App-scoped routes use the aliases of
# `tenku.resources.app.access` (ViewApp, DeployApp...), which build on these.
Db = Annotated[AsyncSession, Depends(get_db)]
# Core reads only (see `request_reads`).
Reader = Annotated[Reads, Depends(get_reads)]
ReadDb = Annotated[AsyncSession, Depends(get_read_db)]
Context = Annotated[AppContext, Depends(_context)]
AccountReader = Annotated[Principal, scoped("account:read")]
AccountWriter = Annotated[Principal, scoped("account:write")]
AppsReader = Annotated[Principal, scoped("app:read")]
AppsWriter = Annotated[Principal, scoped("app:write")]
# OAuth authorizations and clients: only tokens with the `global` scope manage them.
GlobalCaller = Annotated[Principal, scoped("global")]
# Any valid token, whatever its scope.
AnyCaller = Annotated[Principal, scoped("any")]
