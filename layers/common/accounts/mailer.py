"""Email rendering (jinja2, HTML + plain text) and delivery through SES v2 as a raw MIME message.

Import cost is kept low on purpose: jinja2, boto3 and the `email` package are imported on first
use, the jinja2 environments are built on the first render and cached for the container's life.

Nothing here logs: a rendered email carries a single-use token in its links.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from jinja2 import Environment

    from accounts.settings import Settings


class EmailKind(enum.StrEnum):
    """The emails the service sends (spec: Email)."""

    VERIFICATION = "verification"
    ALREADY_REGISTERED = "already_registered"
    PASSWORD_RESET = "password_reset"
    PASSWORD_CHANGED = "password_changed"
    WELCOME = "welcome"
    VERIFICATION_REMINDER = "verification_reminder"
    EMAIL_CHANGE = "email_change"  # the confirmation link, to the new address
    EMAIL_CHANGED = "email_changed"  # the notice, to the old address
    ACCOUNT_DELETED = "account_deleted"
    TWO_FACTOR_ENABLED = "two_factor_enabled"
    TWO_FACTOR_DISABLED = "two_factor_disabled"


# Subjects hold the product name only: user values (names, addresses) never reach a header.
_SUBJECTS: dict[EmailKind, str] = {
    EmailKind.VERIFICATION: "Verify your email for {product}",
    EmailKind.ALREADY_REGISTERED: "{product}: someone tried to sign up with your address",
    EmailKind.PASSWORD_RESET: "Reset your {product} password",
    EmailKind.PASSWORD_CHANGED: "Your {product} password was changed",
    EmailKind.WELCOME: "Welcome to {product}",
    EmailKind.VERIFICATION_REMINDER: "Reminder: verify your email for {product}",
    EmailKind.EMAIL_CHANGE: "Confirm your new email address for {product}",
    EmailKind.EMAIL_CHANGED: "The email address of your {product} account was changed",
    EmailKind.ACCOUNT_DELETED: "Your {product} account was deleted",
    EmailKind.TWO_FACTOR_ENABLED: "Two-factor authentication is on for your {product} account",
    EmailKind.TWO_FACTOR_DISABLED: "Two-factor authentication was turned off for your {product} account",
}

_NEEDS_TOKEN = frozenset({EmailKind.VERIFICATION, EmailKind.VERIFICATION_REMINDER, EmailKind.PASSWORD_RESET,
                          EmailKind.EMAIL_CHANGE})
# The page of the web app each link opens (the page POSTs the token: a GET never consumes one).
_LINK_PAGES = {EmailKind.PASSWORD_RESET: "reset-password", EmailKind.EMAIL_CHANGE: "confirm-email"}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _one_line(value: str) -> str:
    """Collapse every control, format or line-breaking character into single spaces.

    Used for every value that reaches a header or a greeting line: no CR/LF (header injection),
    no bidi overrides or other invisible characters, no forged extra lines in the text part.
    """
    cleaned = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(cleaned.split())


@functools.cache
def _environment(html: bool) -> Environment:
    from pathlib import Path

    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(
    kind: EmailKind | str,
    *,
    product_name: str,
    app_base_url: str,
    name: str | None,
    email: str,
    token: str | None = None,
    expires_in_hours: int | None = None,
) -> RenderedEmail:
    """Render one email of `kind`.

    `token` is required for verification and password_reset (ValueError otherwise).
    `expires_in_hours` is mentioned in the verification and reset emails when given (and > 0).
    """
    from urllib.parse import quote

    kind = EmailKind(kind)
    base = app_base_url.strip().rstrip("/")
    product = _one_line(product_name) or "Accounts"

    link: str | None = None
    if kind in _NEEDS_TOKEN:
        if not token:
            raise ValueError(f"a token is required to render a {kind.value} email")
        page = _LINK_PAGES.get(kind, "verify-email")
        link = f"{base}/{page}?token={quote(token, safe='')}"

    subject = _SUBJECTS[kind].format(product=product)
    context: dict[str, Any] = {
        "subject": subject,
        "product_name": product,
        "name": _one_line(name) if name else None,
        "email": _one_line(email),
        "link": link,
        "login_url": f"{base}/login",
        "reset_url": f"{base}/reset-password",
        "expires_in_hours": expires_in_hours if expires_in_hours and expires_in_hours > 0 else None,
    }
    text = _environment(False).get_template(f"{kind.value}.txt").render(context)
    html = _environment(True).get_template(f"{kind.value}.html").render(context)
    return RenderedEmail(subject=subject, text=text, html=html)


class Mailer:
    """Sends rendered emails with SES v2 (`SendEmail` with raw MIME content)."""

    def __init__(self, *, sender: str, configuration_set: str | None, client: Any = None) -> None:
        self.sender = sender
        self.configuration_set = configuration_set or None
        self._client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> Mailer:
        return cls(sender=settings.email_from, configuration_set=settings.ses_configuration_set or None)

    @property
    def client(self) -> Any:
        if self._client is None:
            from accounts import aws

            self._client = aws.client("sesv2")
        return self._client

    def build_message(self, to: str, email: RenderedEmail) -> bytes:
        """The MIME message (multipart/alternative: text, then HTML; UTF-8; CRLF line ends)."""
        from email.message import EmailMessage
        from email.policy import SMTP
        from email.utils import formatdate, make_msgid, parseaddr

        from accounts import clock

        _, sender_address = parseaddr(self.sender)
        domain = sender_address.rpartition("@")[2] or "localhost"

        message = EmailMessage(policy=SMTP)
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = _one_line(email.subject)
        message["Date"] = formatdate(clock.now(), usegmt=True)
        message["Message-ID"] = make_msgid(domain=domain)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to these
        message.set_content(email.text, subtype="plain", charset="utf-8")
        message.add_alternative(email.html, subtype="html", charset="utf-8")
        return message.as_bytes()

    def send(self, to: str, email: RenderedEmail) -> str:
        """Send `email` to `to`; returns the SES message id. SES errors propagate unchanged."""
        if not to or any(ch in to for ch in "\r\n,;"):
            raise ValueError("the recipient must be a single email address")
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": self.build_message(to, email)}},
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        response = self.client.send_email(**request)
        return str(response["MessageId"])


def parse_raw(raw: bytes | str) -> dict[str, Any]:
    """Read a MIME message back: {"to": [addresses], "subject", "text", "html"} (parts may be "")."""
    import email
    from email.policy import default

    if isinstance(raw, str):
        message = email.message_from_string(raw, policy=default)
    else:
        message = email.message_from_bytes(raw, policy=default)

    to_header = message["To"]
    addresses = [address.addr_spec for address in to_header.addresses] if to_header is not None else []

    def part(subtype: str) -> str:
        body = message.get_body(preferencelist=(subtype,))
        if body is None or body.get_content_type() != f"text/{subtype}":
            return ""
        return str(body.get_content()).replace("\r\n", "\n")

    return {
        "to": addresses,
        "subject": str(message["Subject"] or ""),
        "text": part("plain"),
        "html": part("html"),
    }
