"""Typed API errors, rendered as Heroku's `{"id", "message"}` bodies in one place."""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    status: ClassVar[int] = 500
    id: ClassVar[str] = "internal_server_error"
    default_message: ClassVar[str] = "Internal server error."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.default_message
        self.extra = extra
        self.headers: dict[str, str] = {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "message": self.message, **self.extra}


class BadRequest(ApiError):
    status = 400
    id = "bad_request"
    default_message = "Request invalid, validate usage and try again."


class MissingVersion(ApiError):
    status = 400
    id = "missing_version"
    default_message = (
        "Please specify a version along with Heroku's API MIME type. "
        "For example, `Accept: application/vnd.heroku+json; version=3`."
    )

    def body(self) -> dict[str, Any]:
        # Heroku's versioning layer answers with `error`; clients read `message`.
        return {**super().body(), "error": self.message}


class Unauthorized(ApiError):
    status = 401
    id = "unauthorized"
    default_message = "Invalid credentials provided."


class InvalidTwoFactorCode(ApiError):
    status = 401
    id = "invalid_two_factor_code"
    default_message = "Invalid two-factor code."


class Forbidden(ApiError):
    status = 403
    id = "forbidden"
    default_message = "You do not have access to this resource."


class TwoFactorRequired(ApiError):
    """Send the request again with `Heroku-Two-Factor-Code` (the CLI prompts for one)."""

    status = 403
    id = "two_factor"
    default_message = "A second factor is required."

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        super().__init__(message, **extra)
        self.headers["Heroku-Two-Factor-Required"] = "true"


class NotFound(ApiError):
    status = 404
    id = "not_found"

    def __init__(self, resource: str, message: str | None = None) -> None:
        super().__init__(message or f"Couldn't find that {resource.replace('_', ' ')}.")
        self.extra["resource"] = resource


class NotAcceptable(ApiError):
    status = 406
    id = "not_acceptable"
    default_message = (
        "The requested API version is not available. "
        "Set `Accept: application/vnd.heroku+json; version=3` and try again."
    )

    def body(self) -> dict[str, Any]:
        return {**super().body(), "error": self.message}


class MethodNotAllowed(ApiError):
    status = 405
    id = "method_not_allowed"
    default_message = "Method not allowed for this resource."


class Conflict(ApiError):
    status = 409
    id = "conflict"
    default_message = "The request conflicts with the current state of the resource."


class PreconditionFailed(ApiError):
    status = 412
    id = "precondition_failed"
    default_message = "The resource has changed since the given ETag."


class RangeNotSatisfiable(ApiError):
    status = 416
    id = "requested_range_not_satisfiable"
    default_message = "The requested range is not satisfiable."


class InvalidParams(ApiError):
    status = 422
    id = "invalid_params"
    default_message = "Invalid parameters."


class ConfirmationRequired(ApiError):
    status = 423
    id = "confirmation_required"

    def __init__(self, app_name: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"This action requires confirmation. Re-send with `confirm` set to {app_name}."
        )
        self.headers["X-Confirmation-Required"] = app_name


class RateLimited(ApiError):
    status = 429
    id = "rate_limit"
    default_message = (
        "Your account reached the API rate limit\n"
        "Please wait a few minutes before making new requests"
    )


class TooManyAttempts(RateLimited):
    """Locked out after failed attempts (passwords, second factors, reset tokens)."""

    def __init__(self, seconds: int, what: str = "failed attempts") -> None:
        minutes = max(1, -(-seconds // 60))
        super().__init__(
            f"Too many {what}. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
        self.headers["Retry-After"] = str(max(1, seconds))


class ServiceUnavailable(ApiError):
    status = 503
    id = "service_unavailable"
    default_message = "The service is temporarily unavailable."
