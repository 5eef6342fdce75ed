"""Request and response models of the self-service routes (AccountFunction), beside the shared ones
of accounts.schemas, whose field types they reuse."""

from __future__ import annotations

from pydantic import Field

from accounts.schemas import Answer, Email, Name, Password, Strict


class NameRequest(Strict):
    name: Name


class PasswordRequest(Strict):
    """The account's password, to confirm a deletion."""

    password: Password


class ChangePasswordRequest(Strict):
    current_password: Password
    new_password: Password


class ChangeEmailRequest(Strict):
    new_email: Email
    password: Password


class SessionInfo(Answer):
    session_id: str
    created_at: str = Field(description="RFC 3339, UTC.")
    last_used_at: str = Field(description="RFC 3339, UTC: the login or the last refresh.")
    ip: str | None
    user_agent: str | None = Field(description="As the client sent it, at most 256 characters.")
    current: bool = Field(description="True for the session of the access token making this request.")


class SessionList(Answer):
    sessions: list[SessionInfo]




class SecurityEventInfo(Answer):
    type: str = Field(
        description="login, login_failed, mfa_failed, locked_out, password_changed, password_reset, email_changed, "
        "mfa_enabled, mfa_disabled, session_revoked, refresh_reuse_detected, disabled or enabled."
    )
    at: str = Field(description="RFC 3339, UTC.")
    ip: str | None = Field(description="The caller's IP address (none for an admin's action).")
    user_agent: str | None


class SecurityEventPage(Answer):
    events: list[SecurityEventInfo]
    next: str | None = Field(description="Pass as `cursor` to read the next (older) page; null at the end.")
