"""Request and response models shared by the API functions (and so by the OpenAPI document)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema


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


# The examples document the fields and give the API fuzz test one request that passes validation.
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=320,
        description="Email address; trimmed, its domain compared in IDNA A-label form and its local part "
        "lower-cased without case folding (straße and strasse are different addresses).",
        examples=["ada@example.com"],
    ),
    AfterValidator(_email),
]
# Long enough for any policy; the upper bound stops absurd inputs before argon2 sees them.
Password = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        description="Password (policy applies on set).",
        examples=["Correct-Horse-Battery-9"],
    ),
]
Token = Annotated[
    str,
    Field(
        min_length=1,
        max_length=512,
        description="Token from an emailed link.",
        examples=["Jq8xTn3vV0bYkq1Lw5d9Zr2sHc7uFp4mEa6gXo0iKyQ"],
    ),
]
Name = Annotated[
    str,
    Field(min_length=1, max_length=100, description="Display name, 1-100 characters.", examples=["Ada Lovelace"]),
    AfterValidator(_name),
]


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


class Empty(Strict):
    """A POST whose route needs no input: the body is an empty JSON object `{}`."""


# The admin reminder route's cap (accounts.flows.admin.MAX_REMINDERS; a unit test keeps them equal).
MAX_REMINDER_EMAILS = 100


def _at_most_cap(value: Any) -> Any:
    """Refuse an over-long list before any address in it is validated (that is the work the cap
    bounds), with a message that states the cap."""
    if isinstance(value, list) and len(value) > MAX_REMINDER_EMAILS:
        raise ValueError(f"at most {MAX_REMINDER_EMAILS} addresses per request (got {len(value)})")
    return value


def _rfc3339_text(value: Any) -> Any:
    """Only RFC 3339 text with an offset (pydantic would also take a number of seconds)."""
    if not isinstance(value, str):  # pydantic reports a ValueError as the field's error (not a TypeError)
        raise ValueError("must be an RFC 3339 date-time string, e.g. 2025-11-21T15:00:00Z")  # noqa: TRY004
    return value


class ReminderRequest(Strict):
    """Exactly one of `emails` and `registered_before`."""

    emails: Annotated[
        list[Email],
        BeforeValidator(_at_most_cap),
        Field(min_length=1, max_length=MAX_REMINDER_EMAILS, description="Addresses to remind (at most 100)."),
    ] | None = None
    registered_before: Annotated[
        AwareDatetime,
        BeforeValidator(_rfc3339_text),
        Field(description="Remind the unverified accounts registered before this time (RFC 3339, with offset).",
              examples=["2025-11-21T15:00:00Z"]),
    ] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ReminderRequest:
        if (self.emails is None) == (self.registered_before is None):
            raise ValueError("give exactly one of emails and registered_before")
        return self

    @property
    def registered_before_epoch(self) -> int | None:
        value: datetime | None = self.registered_before
        return None if value is None else int(value.timestamp())


class Answer(BaseModel):
    """A response body. Its schema is the serialized form, where a field with a default is always
    present: generated clients must not see `token_type` or `email_verified` as optional."""

    model_config = ConfigDict(
        json_schema_mode_override="serialization", json_schema_serialization_defaults_required=True
    )


class Message(Answer):
    message: str


class EmailVerified(Answer):
    email_verified: Literal[True] = True


class PasswordChanged(Answer):
    password_changed: Literal[True] = True


class TokenResponse(Answer):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Lifetime of the access token in seconds.")
    refresh_token: str


class Profile(Answer):
    user_id: str
    email: str
    email_verified: bool
    name: str | None
    created_at: str = Field(description="RFC 3339, UTC.")
    mfa_enabled: bool
    roles: list[str]


class AdminUser(Answer):
    """One user as an admin sees it."""

    user_id: str
    email: str
    name: str | None
    created_at: str = Field(description="RFC 3339, UTC.")
    email_verified: bool
    disabled: bool
    roles: list[str]
    mfa_enabled: bool
    active_sessions: int = Field(description="Sessions that still work (not expired, not revoked).")


class UserStatus(Answer):
    user_id: str
    disabled: bool


class RemindersQueued(Answer):
    queued: int = Field(description="Reminders queued by this request (at most 100).")
    more: bool = Field(
        description="True when the request stopped at its cap or read budget before seeing every matching "
        "account: send it again (accounts reminded in the last 24 h are skipped)."
    )


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
    # Only on 422, and absent (never null) elsewhere: the schema shows no null and does not require it.
    errors: list[FieldError] | SkipJsonSchema[None] = None
    # Only with code mfa_required (a login's 401): the single-use token of the second step, 5 minutes.
    mfa_token: str | SkipJsonSchema[None] = Field(
        default=None, description="Only with code mfa_required: send it to /v1/auth/login/mfa with a code.")


class PublicJWK(Answer):
    """A public RSA signing key (RFC 7517): public members only."""

    kty: Literal["RSA"]
    use: Literal["sig"]
    alg: Literal["RS256"]
    kid: str = Field(description="RFC 7638 thumbprint of the key; access tokens name it in their `kid` header.")
    n: str = Field(description="Modulus, base64url without padding.")
    e: str = Field(description="Public exponent, base64url without padding.")


class JWKSet(Answer):
    """The keys that verify access tokens: the one signing now first, then upcoming and retired ones."""

    keys: list[PublicJWK] = Field(min_length=1)


class DiscoveryDocument(Answer):
    """What `accounts.jwt_keys.openid_configuration` states: who issues access tokens, where their
    keys are, how they are signed. No authorization endpoint or ID tokens exist, so none are named."""

    issuer: str
    jwks_uri: str
    access_token_signing_alg_values_supported: list[Literal["RS256"]]
    scopes_supported: list[str]
    claims_supported: list[str]


# RateLimit-* are optional: a limit can be turned off (`0/...`), and an answer given before the limit
# was counted (a body refused unread, a dependency down) has none. They are written out on each
# response rather than as $refs, because generators (openapi-typescript) type a $ref'd header as
# always present, whatever its `required` says.
RATE_LIMIT_HEADERS: dict[str, dict] = {
    "RateLimit-Limit": {
        "description": "Requests allowed in the current window of the route's rate limit.",
        "required": False,
        "schema": {"type": "integer"},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "required": False,
        "schema": {"type": "integer"},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the current window ends.",
        "required": False,
        "schema": {"type": "integer"},
    },
}
# Headers always present on the responses that list them: the document's components.headers.
RESPONSE_HEADERS: dict[str, dict] = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": "The Bearer challenge (RFC 6750), e.g. `Bearer error=\"invalid_token\"`.",
        "required": True,
        "schema": {"type": "string"},
    },
    "Allow": {
        "description": "The methods the path accepts, e.g. `POST`.",
        "required": True,
        "schema": {"type": "string"},
    },
}
_PROBLEM_DESCRIPTIONS = {
    400: "malformed_request or invalid_token",
    401: "invalid_credentials, invalid_grant, unauthorized, mfa_required (with `mfa_token`) or invalid_mfa_code",
    403: "email_not_verified, account_disabled or insufficient_scope",
    404: "not_found: no such path",
    405: "method_not_allowed: the path exists, the method does not (`Allow` lists those it has)",
    409: "mfa_already_enabled",
    410: "token_expired",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed or weak_password (each problem in `errors`)",
    429: "rate_limited (Retry-After set)",
    500: "internal_error",
    503: "service_unavailable (Retry-After set)",
}


def _headers(*, rate_limited: bool, refs: tuple[str, ...] = ()) -> dict[str, dict]:
    headers = {name: dict(header) for name, header in RATE_LIMIT_HEADERS.items()} if rate_limited else {}
    headers.update({name: {"$ref": f"#/components/headers/{name}"} for name in refs})
    return headers


def responses(
    status: int,
    description: str,
    model: type[BaseModel] | None,
    *problems: int,
    rate_limited: bool = False,
    bearer: bool = False,
) -> dict[int, dict]:
    """OpenAPI `responses` of a route: its success answer and the problem statuses it can give.

    `rate_limited`: its answers carry RateLimit-*; `bearer`: the route needs an access token, so its
    401 carries a WWW-Authenticate challenge."""
    success: dict = {"description": description}
    if rate_limited:
        success["headers"] = _headers(rate_limited=True)
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    return {status: success, **problem_responses(*problems, rate_limited=rate_limited, bearer=bearer)}


def problem_responses(*statuses: int, rate_limited: bool = False, bearer: bool = False) -> dict[int, dict]:
    """OpenAPI `responses` entries for the problem statuses a route can answer."""
    entries = {}
    for status in statuses:
        refs = ("Retry-After",) if status in (429, 503) else ()
        if status == 401 and bearer:
            refs = ("WWW-Authenticate",)
        if status == 405:
            refs = ("Allow",)
        entry: dict = {"description": _PROBLEM_DESCRIPTIONS[status]}
        headers = _headers(rate_limited=rate_limited, refs=refs)
        if headers:
            entry["headers"] = headers
        entry["content"] = {"application/problem+json": {"model": Problem}}
        entries[status] = entry
    return entries
