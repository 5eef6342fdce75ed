"""Rendering and sending one email to an account holder: shared by the flows' delivery steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from accounts import tokens
from accounts.mailer import EmailKind, Mailer, render
from accounts.models import Account
from accounts.repository import StaleJob
from accounts.settings import Settings

if TYPE_CHECKING:
    from accounts.services import Services


def send_to_user(
    settings: Settings,
    mailer: Mailer,
    user: Account,
    kind: EmailKind,
    *,
    token: str | None = None,
    lifetime_seconds: int | None = None,
) -> None:
    """Send `kind` to the address the user typed; a link lifetime is mentioned when it is whole hours."""
    hours = lifetime_seconds // 3600 if lifetime_seconds and lifetime_seconds % 3600 == 0 else None
    email = render(
        kind,
        product_name=settings.product_name,
        app_base_url=settings.app_base_url,
        name=user.name,
        email=user.email,
        token=token,
        expires_in_hours=hours,
    )
    mailer.send(user.email, email)


def send_link(
    services: Services,
    mailer: Mailer,
    user: Account,
    kind: EmailKind,
    *,
    purpose: str,
    lifetime_seconds: int,
    registration_id: str | None = None,
) -> bool:
    """Issue a fresh token of `purpose` (superseding older ones) and email its link.

    False when the account changed since the job was queued (StaleJob): nothing is sent."""
    token = tokens.new_token()
    try:
        services.repo.set_email_token(
            user,
            purpose=purpose,
            token_hash=tokens.hash_token(token),
            expires_at=services.now() + lifetime_seconds,
            registration_id=registration_id,
        )
    except StaleJob:
        return False
    send_to_user(services.settings, mailer, user, kind, token=token, lifetime_seconds=lifetime_seconds)
    return True
