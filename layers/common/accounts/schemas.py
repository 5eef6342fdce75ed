"""Request and response models shared by the API functions (and so by the OpenAPI document)."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _email(value: str) -> str:
    from accounts.emails import parse_address

    parse_address(value)  # raises ValueError with a user-facing message
    return value


def _name(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be blank")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in text):
        raise ValueError("must not contain control characters")
    return text


Email = Annotated[
    str,
    Field(min_length=3, max_length=320, description="Email address; trimmed and compared case-insensitively."),
    AfterValidator(_email),
]
# Long enough for any policy; the upper bound stops absurd inputs before argon2 sees them.
Password = Annotated[str, Field(min_length=1, max_length=1024, description="Password (policy applies on set).")]
Token = Annotated[str, Field(min_length=1, max_length=512, description="Token from an emailed link.")]
Name = Annotated[str, Field(min_length=1, max_length=100, description="Display name, 1-100 characters."), AfterValidator(_name)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(Strict):
    email: Email
    password: Password
    name: Name | None = None


class EmailRequest(Strict):
    email: Email


class TokenRequest(Strict):
    token: Token


class ResetConfirmRequest(Strict):
    token: Token
    password: Password


class LoginRequest(Strict):
    email: Email
    password: Password


class RefreshRequest(Strict):
    refresh_token: Token


class Message(BaseModel):
    message: str


class EmailVerified(BaseModel):
    email_verified: Literal[True] = True


class PasswordChanged(BaseModel):
    password_changed: Literal[True] = True


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Lifetime of the access token in seconds.")
    refresh_token: str


class Profile(BaseModel):
    user_id: str
    email: str
    email_verified: bool
    name: str | None
    created_at: str = Field(description="RFC 3339, UTC.")
    mfa_enabled: bool
    roles: list[str]


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


def responses(status: int, description: str, model: type[BaseModel] | None, *problems: int) -> dict[int, dict]:
    """OpenAPI `responses` of a route: its success answer and the problem statuses it can give."""
    success: dict = {"description": description}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    return {status: success, **problem_responses(*problems)}


def problem_responses(*statuses: int) -> dict[int, dict]:
    """OpenAPI `responses` entries for the problem statuses a route can answer."""
    descriptions = {
        400: "malformed_request or invalid_token",
        401: "invalid_credentials, invalid_grant or unauthorized",
        403: "email_not_verified or account_disabled",
        410: "token_expired",
        413: "payload_too_large",
        415: "unsupported_media_type",
        422: "validation_failed or weak_password",
        429: "rate_limited (Retry-After set)",
        500: "internal_error",
        503: "service_unavailable (Retry-After set)",
    }
    return {
        status: {
            "description": descriptions[status],
            "content": {"application/problem+json": {"model": Problem}},
        }
        for status in statuses
    }
