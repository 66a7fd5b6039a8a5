"""A small add-on partner on 127.0.0.1, speaking the v3 partner API, for tests.

Its behaviour follows the plan slug it is asked for: `sync` answers 200 with
config; `async` answers 202 and completes through the Platform API for partners
(grant exchange, config PATCH, actions/provision); `asyncfail` answers 202 and
gives up (actions/deprovision); `refuse` answers 422 with a message; `crash`
answers 500; `slow` sleeps past the platform's timeout; `hang` makes the resource
(named by the platform's uuid, as real partners do) and answers only once `hold` is
set; `badconfig` sets a var its manifest does not declare. Every request is recorded,
and `arrived` is set whenever one comes in.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

# (method, path, headers, JSON body or form string) -> (status, parsed JSON answer)
Platform = Callable[[str, str, dict[str, str], Any], tuple[int, Any]]
V3 = "application/vnd.heroku+json; version=3"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakePartner:
    slug: str
    password: str
    prefix: str = "FAKE_PARTNER"
    slow_seconds: float = 3.0
    callback_delay: float = 0.2
    platform: Platform | None = None
    seen: list[Seen] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    callbacks: list[tuple[str, int, Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    hold: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    refuse_deletes: bool = False
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                return json.loads(raw) if raw else None

            def _answer(self, status: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                body = self._body()
                partner.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                partner.arrived.set()
                expected = base64.b64encode(f"{partner.slug}:{partner.password}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._answer(401, {"message": "bad credentials"})
                    return
                status, answer = partner.route(self.command, self.path, body)
                self._answer(status, answer)

            do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        base = "/heroku/resources"
        if method == "POST" and path == base:
            return self.provision(body)
        if path.startswith(base + "/"):
            rid = path[len(base) + 1 :]
            if method == "PUT":
                return self.change_plan(rid, body)
            if method == "DELETE":
                if self.refuse_deletes:
                    return 422, {"message": "Not now."}
                self.resources.pop(rid, None)
                return 204, None
        return 404, {"message": "no such route"}

    def config_for(self, uuid: str, plan: str) -> dict[str, str]:
        return {
            f"{self.prefix}_URL": f"https://fake.example/{uuid}?plan={plan}",
            f"{self.prefix}_TOKEN": f"token-{uuid[:8]}",
        }

    def provision(self, body: dict[str, Any]) -> tuple[int, Any]:
        uuid, plan = body["uuid"], body["plan"]
        rid = f"res-{uuid}"
        if plan == "refuse":
            return 422, {"message": "Fake Partner is full; try again tomorrow."}
        if plan == "crash":
            return 500, {"message": "internal detail that must not be shown"}
        if plan == "slow":
            time.sleep(self.slow_seconds)
        if plan == "hang":
            self.resources[uuid] = {"uuid": uuid, "plan": plan}
            self.hold.wait(timeout=300)
            return 200, {"id": uuid, "config": self.config_for(uuid, plan)}
        self.resources[rid] = {"uuid": uuid, "plan": plan}
        if plan == "badconfig":
            return 200, {"id": rid, "config": {"UNDECLARED_URL": "https://x.example"}}
        if plan in ("async", "asyncfail"):
            threading.Thread(target=self.call_back, args=(body, rid), daemon=True).start()
            return 202, {"id": rid, "message": "Your resource is being prepared."}
        return 200, {"id": rid, "config": self.config_for(uuid, plan), "message": "Welcome!"}

    def change_plan(self, rid: str, body: dict[str, Any]) -> tuple[int, Any]:
        if rid not in self.resources:
            return 404, {"message": "unknown resource"}
        if body["plan"] == "refuse":
            return 422, {"message": "That plan cannot be reached from here."}
        self.resources[rid]["plan"] = body["plan"]
        uuid = self.resources[rid]["uuid"]
        return 200, {"config": self.config_for(uuid, body["plan"]), "message": "Plan changed."}

    def call(self, method: str, path: str, headers: dict[str, str], body: Any) -> Any:
        assert self.platform is not None
        status, answer = self.platform(method, path, {"Accept": V3, **headers}, body)
        self.callbacks.append((f"{method} {path}", status, answer))
        return answer

    def call_back(self, body: dict[str, Any], rid: str) -> None:
        """What a v3 partner does after answering 202."""
        try:
            if self.platform is None:
                return
            time.sleep(self.callback_delay)
            uuid = body["uuid"]
            form = urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": body["oauth_grant"]["code"],
                    "client_secret": self.password,
                }
            )
            token = self.call(
                "POST",
                "/oauth/token",
                {"Content-Type": "application/x-www-form-urlencoded"},
                form,
            )["access_token"]
            auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            if body["plan"] == "asyncfail":
                self.call("POST", f"/addons/{uuid}/actions/deprovision", auth, None)
                return
            config = [{"name": k, "value": v} for k, v in self.config_for(uuid, "async").items()]
            self.call("PATCH", f"/addons/{uuid}/config", auth, {"config": config})
            self.call("POST", f"/addons/{uuid}/actions/provision", auth, None)
        finally:
            self.done.set()
