"""Domain errors. Each carries the HTTP status and the stable `code` of the spec's error table;
`accounts.http` turns them into problem responses in one place."""

from __future__ import annotations


class ServiceError(Exception):
    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"
    detail: str = "The request could not be completed."

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.detail)
        self.detail = detail or self.detail
        self.errors = errors
        self.retry_after = retry_after
        self.headers = dict(headers or {})


class MalformedRequest(ServiceError):
    status, code, title = 400, "malformed_request", "Malformed request"
    detail = "The body must be a JSON object."


class InvalidToken(ServiceError):
    status, code, title = 400, "invalid_token", "Invalid token"
    detail = "The token is unknown, already used, or superseded by a newer one."


class InvalidCredentials(ServiceError):
    status, code, title = 401, "invalid_credentials", "Invalid credentials"
    detail = "The email or password is incorrect."


class InvalidGrant(ServiceError):
    status, code, title = 401, "invalid_grant", "Invalid refresh token"
    detail = "The refresh token is unknown, expired, revoked or was already used."


class Unauthorized(ServiceError):
    status, code, title = 401, "unauthorized", "Unauthorized"
    detail = "A valid access token is required."


class MfaRequired(ServiceError):
    status, code, title = 401, "mfa_required", "Second factor required"
    detail = "The password is correct; complete the login with a TOTP or recovery code at /v1/auth/login/mfa."

    def __init__(self, mfa_token: str, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        # The one problem body with an extra member: the single-use token of the second step.
        self.extra = {"mfa_token": mfa_token}


class InvalidMfaCode(ServiceError):
    status, code, title = 401, "invalid_mfa_code", "Invalid second factor"
    detail = "The code is wrong, already used or expired, or the mfa_token is not valid."


class EmailNotVerified(ServiceError):
    status, code, title = 403, "email_not_verified", "Email not verified"
    detail = "Verify your email address before logging in."


class AccountDisabled(ServiceError):
    status, code, title = 403, "account_disabled", "Account disabled"
    detail = "This account has been disabled."


class InsufficientScope(ServiceError):
    status, code, title = 403, "insufficient_scope", "Insufficient scope"
    detail = "This route needs an access token with the accounts:admin scope."

    def __init__(self, detail: str | None = None, **options: object) -> None:
        super().__init__(detail, **options)  # type: ignore[arg-type]
        # RFC 6750 section 3: the challenge names the scope the token lacks.
        self.headers.setdefault("WWW-Authenticate", 'Bearer error="insufficient_scope", scope="accounts:admin"')


class NotFound(ServiceError):
    status, code, title = 404, "not_found", "Not found"
    detail = "No such route."


class MethodNotAllowed(ServiceError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"
    detail = "The route does not accept this method."


class MfaAlreadyEnabled(ServiceError):
    status, code, title = 409, "mfa_already_enabled", "Two-factor already enabled"
    detail = "TOTP is already enabled; remove it first to enrol a new authenticator."


class TokenExpired(ServiceError):
    status, code, title = 410, "token_expired", "Token expired"
    detail = "The link has expired; request a new one."


class PayloadTooLarge(ServiceError):
    status, code, title = 413, "payload_too_large", "Payload too large"
    detail = "The request body must not exceed 16 KiB."


class UnsupportedMediaType(ServiceError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"
    detail = "Send the body as application/json."


class ValidationFailed(ServiceError):
    status, code, title = 422, "validation_failed", "Validation failed"
    detail = "The request body does not match the schema."


class WeakPassword(ServiceError):
    status, code, title = 422, "weak_password", "Weak password"
    detail = "The password does not meet the password policy."


class RateLimited(ServiceError):
    status, code, title = 429, "rate_limited", "Too many requests"
    detail = "Too many requests; try again later."


class ServiceUnavailable(ServiceError):
    status, code, title = 503, "service_unavailable", "Service unavailable"
    detail = "The service is busy; try again shortly."
