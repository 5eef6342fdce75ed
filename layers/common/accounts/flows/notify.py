"""Rendering and sending one email to an account holder: shared by the flows' delivery steps."""

from __future__ import annotations

from accounts.mailer import EmailKind, Mailer, render
from accounts.models import User
from accounts.settings import Settings


def send_to_user(
    settings: Settings,
    mailer: Mailer,
    user: User,
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
