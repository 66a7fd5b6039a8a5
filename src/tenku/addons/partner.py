"""Third-party add-ons over Heroku's add-on partner API (v3).

Tenku calls the partner's base URL with HTTP Basic auth (manifest id and
password); the partner answers 200 with its resource id and config, or 202 and
completes later through the Platform API for partners (`PATCH
/addons/{id}/config`, `POST /addons/{id}/actions/provision`), with a token it
gets by exchanging the grant sent here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from tenku.addons.catalog import PlanSpec, ServiceSpec
from tenku.addons.provider import PlanChangeResult, ProviderError, ProvisionRequest, ProvisionResult
from tenku.egress import EgressPolicy, EgressRefused

log = logging.getLogger("tenku.addons")
ACCEPT = "application/vnd.heroku-addons+json; version=3"
GENERIC = "Could not communicate with vendor, please try again later"


def _partner_message(response: httpx.Response) -> str | None:
    """Partners explain a refusal with 422 or 503 and a `message`; nothing else is shown."""
    if response.status_code not in (422, 503):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    message = body.get("message") if isinstance(body, dict) else None
    return message.strip() if isinstance(message, str) and message.strip() else None


def check_config(spec: ServiceSpec, config: Any) -> dict[str, str]:
    """Partner config: declared names only, string values, and URLs that parse."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ValueError("config must be an object")
    out: dict[str, str] = {}
    for key, value in config.items():
        if not isinstance(key, str) or not spec.declares(key):
            raise ValueError(f"{key!r} is not one of the config vars the manifest declares")
        if not isinstance(value, str):
            raise ValueError(f"the value of {key} must be a string")
        if key.endswith("_URL"):
            parts = urlsplit(value)
            if not parts.scheme or not (parts.netloc or parts.path):
                raise ValueError(f"{key} is not a URL")
        out[key] = value
    return out


class PartnerProvider:
    def __init__(self, timeout: float, egress: EgressPolicy) -> None:
        self.timeout = timeout
        self.egress = egress

    def _client(self, spec: ServiceSpec) -> httpx.AsyncClient:
        assert spec.partner is not None
        return self.egress.client(
            auth=(spec.slug, spec.partner.password),
            headers={"Accept": ACCEPT, "User-Agent": "tenku-addons/1"},
            timeout=self.timeout,
        )

    def _url(self, spec: ServiceSpec, provider_id: str | None = None) -> str:
        assert spec.partner is not None
        base = spec.partner.base_url
        return base if provider_id is None else f"{base}/{quote(provider_id, safe='')}"

    async def _send(
        self, spec: ServiceSpec, method: str, url: str, body: Any | None = None
    ) -> httpx.Response:
        try:
            async with self._client(spec) as client:
                return await client.request(method, url, json=body)
        except (httpx.HTTPError, EgressRefused) as exc:
            log.warning("partner %s: %s %s failed: %s", spec.slug, method, url, exc)
            raise ProviderError(GENERIC, unavailable=True) from exc

    def _refused(self, spec: ServiceSpec, response: httpx.Response) -> ProviderError:
        message = _partner_message(response)
        log.warning("partner %s answered %s", spec.slug, response.status_code)
        if message is not None:
            return ProviderError(message)
        return ProviderError(GENERIC, unavailable=True)

    async def provision(self, spec: ServiceSpec, req: ProvisionRequest) -> ProvisionResult:
        body: dict[str, Any] = {
            "uuid": str(req.uuid),
            "name": req.name,
            "plan": req.plan.slug,
            "region": req.region,
            "callback_url": req.callback_url,
            # Heroku documented bare switches as the string "true": stringify on the way out.
            "options": {k: str(v) for k, v in req.options.items()},
            "log_input_url": None,
        }
        if req.grant is not None:
            body["oauth_grant"] = {
                "code": req.grant.code,
                "expires_at": req.grant.expires_at.isoformat().replace("+00:00", "Z"),
                "type": "authorization_code",
            }
        response = await self._send(spec, "POST", self._url(spec), body)
        if response.status_code not in (200, 201, 202):
            raise self._refused(spec, response)
        try:
            data = response.json()
            if not isinstance(data, dict) or data.get("id") in (None, ""):
                raise ValueError("the answer has no id")
            provider_id = str(data["id"])
            config = check_config(spec, data.get("config"))
            message = data.get("message")
        except ValueError as exc:
            log.warning("partner %s: unusable provision answer: %s", spec.slug, exc)
            # It may have made something: undo it, best effort (DELETE is idempotent).
            pid = data.get("id") if isinstance(data, dict) and data.get("id") else None
            if pid is not None:
                await self._forget(spec, req.uuid, str(pid))
            raise ProviderError(f"The add-on provider's answer was not usable: {exc}.") from exc
        return ProvisionResult(
            provider_id=provider_id,
            done=response.status_code != 202,
            config=config,
            message=message if isinstance(message, str) and message else None,
        )

    async def _forget(self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str) -> None:
        try:
            await self.deprovision(spec, addon_id, provider_id)
        except ProviderError:
            log.warning("partner %s: could not undo %s", spec.slug, provider_id)

    async def change_plan(
        self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str, plan: PlanSpec
    ) -> PlanChangeResult:
        body = {"plan": plan.slug, "uuid": str(addon_id)}
        response = await self._send(spec, "PUT", self._url(spec, provider_id), body)
        if not 200 <= response.status_code < 300:
            raise self._refused(spec, response)
        try:
            data = response.json() if response.content else {}
            data = data if isinstance(data, dict) else {}
            config = check_config(spec, data.get("config")) if "config" in data else None
        except ValueError as exc:
            raise ProviderError(f"The add-on provider's answer was not usable: {exc}.") from exc
        message = data.get("message")
        return PlanChangeResult(
            config=config, message=message if isinstance(message, str) and message else None
        )

    async def deprovision(self, spec: ServiceSpec, addon_id: uuid.UUID, provider_id: str) -> None:
        if not provider_id:
            return
        response = await self._send(spec, "DELETE", self._url(spec, provider_id))
        # Gone already counts as done: deprovisioning is idempotent.
        if not (200 <= response.status_code < 300 or response.status_code in (404, 410)):
            raise self._refused(spec, response)
