"""Configuration: one pydantic settings model, read from the environment on first use, never at import.

Bad configuration fails the cold start with one log line that names the variable.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import NamedTuple
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class ConfigurationError(RuntimeError):
    """Raised when the environment does not hold a valid configuration."""


class RateLimit(NamedTuple):
    """A fixed-window limit: at most `count` events per `seconds`; count 0 disables it."""

    count: int
    seconds: int

    @property
    def enabled(self) -> bool:
        return self.count > 0

    @classmethod
    def parse(cls, value: object) -> RateLimit:
        if isinstance(value, RateLimit):
            return value
        text = str(value).strip()
        count, sep, seconds = text.partition("/")
        if not sep or not count.strip().isdigit() or not seconds.strip().isdigit():
            raise ValueError("expected COUNT/SECONDS, e.g. 20/3600")
        limit = cls(int(count), int(seconds))
        if limit.seconds <= 0:
            raise ValueError("the window must be at least one second")
        return limit


# "COUNT/SECONDS" in the environment (parsed by the field validator below).
Limit = RateLimit


class Settings(BaseModel):
    """Environment of every function (spec section 4). Field names map to upper-case variables.

    A plain pydantic model fed from `os.environ` by `get_settings()`: pydantic-settings would do
    the same and add about a tenth of a bare `import boto3` to every cold start."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    table_name: str = Field(min_length=3)
    app_base_url: str
    product_name: str = "Accounts"
    # The issuer authenticator apps show beside the account (the otpauth:// URI); empty: PRODUCT_NAME.
    mfa_issuer: str = Field(default="", max_length=100)
    email_from: str = Field(min_length=3)
    ses_configuration_set: str = ""
    jwt_issuer: str = Field(min_length=1)
    jwt_audience: str = Field(min_length=1)
    signing_key_secret_id: str = Field(min_length=1)
    email_queue_url: str = Field(min_length=1)

    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    refresh_token_ttl_seconds: int = Field(default=604800, ge=300)
    verify_token_ttl_seconds: int = Field(default=86400, ge=60)
    reset_token_ttl_seconds: int = Field(default=3600, ge=60)
    email_change_token_ttl_seconds: int = Field(default=3600, ge=60)

    password_min_length: int = Field(default=12, ge=8, le=128)
    password_require_character_classes: bool = True

    # Defaults are the OWASP minimum for argon2id (m=19 MiB, t=2, p=1).
    argon2_memory_kib: int = Field(default=19456, ge=8)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_parallelism: int = Field(default=1, ge=1)

    cors_allowed_origins: str = ""
    unverified_account_ttl_days: int = Field(default=7, ge=0)
    # 0 turns the scheduled reminder off.
    verification_reminder_after_hours: int = Field(default=24, ge=0)

    # v2 token lifecycle. JWT_CLIENT_ID defaults to the audience (RFC 9068 `client_id`).
    jwt_client_id: str = ""
    # A refresh token rotated less than this long ago may be presented again (0: never).
    refresh_reuse_grace_seconds: int = Field(default=10, ge=0, le=300)
    # A new signing key is published this long before any function signs with it (API Gateway
    # caches the key set); keys are re-read from Secrets Manager at most this often.
    signing_key_publish_ahead_seconds: int = Field(default=7200, ge=0)
    signing_key_cache_seconds: int = Field(default=300, ge=1, le=3600)

    rate_limit_register_per_ip: Limit = RateLimit(20, 3600)
    rate_limit_email_per_address: Limit = RateLimit(3, 3600)
    rate_limit_mail_per_ip: Limit = RateLimit(20, 3600)
    rate_limit_login_per_ip: Limit = RateLimit(60, 60)
    login_lockout: Limit = RateLimit(5, 900)
    rate_limit_token_per_ip: Limit = RateLimit(30, 60)

    @field_validator(
        "rate_limit_register_per_ip",
        "rate_limit_email_per_address",
        "rate_limit_mail_per_ip",
        "rate_limit_login_per_ip",
        "login_lockout",
        "rate_limit_token_per_ip",
        mode="before",
    )
    @classmethod
    def _parse_rate_limit(cls, value: object) -> RateLimit:
        return RateLimit.parse(value)

    @field_validator("app_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute URL")
        if parts.scheme != "https" and parts.hostname not in _LOCAL_HOSTS:
            raise ValueError("must use https (plain http is allowed for localhost only)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("cors_allowed_origins")
    @classmethod
    def _check_origins(cls, value: str) -> str:
        for origin in _split(value):
            parts = urlsplit(origin)
            if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError("each entry must be an origin like https://app.example.com")
        return value

    @model_validator(mode="after")
    def _check_publish_ahead(self) -> Settings:
        # A key must be in every warm container's key set before any container signs with it.
        ahead, cache = self.signing_key_publish_ahead_seconds, self.signing_key_cache_seconds
        if 0 < ahead <= cache:
            raise ValueError(
                f"SIGNING_KEY_PUBLISH_AHEAD_SECONDS ({ahead}) must exceed SIGNING_KEY_CACHE_SECONDS ({cache}), "
                "or be 0 (only for local mode: a rotated key then signs at once)"
            )
        return self

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(origin.rstrip("/") for origin in _split(self.cors_allowed_origins))

    @property
    def unverified_account_ttl_seconds(self) -> int:
        return self.unverified_account_ttl_days * 86400

    @property
    def verification_reminder_after_seconds(self) -> int:
        return self.verification_reminder_after_hours * 3600

    @property
    def totp_issuer(self) -> str:
        return self.mfa_issuer.strip() or self.product_name

    @property
    def client_id(self) -> str:
        return self.jwt_client_id or self.jwt_audience


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@functools.cache
def get_settings() -> Settings:
    """The settings of this container, read once; fails with one log line naming the variable."""
    try:
        environment = {name: os.environ[name.upper()] for name in Settings.model_fields if name.upper() in os.environ}
        return Settings.model_validate(environment)
    except ValidationError as error:
        first = error.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        message = f"invalid configuration: {variable}: {first['msg']}"
        # One line, no values: a misconfigured secret id or URL is still configuration, not a secret,
        # but the value is not needed to fix it and keeping it out is the safe default.
        logging.getLogger("accounts.settings").error(message)
        raise ConfigurationError(message) from None
