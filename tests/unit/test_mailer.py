"""accounts.mailer: template rendering (links, escaping, subjects) and SES v2 delivery as raw MIME."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from accounts.mailer import EmailKind, Mailer, RenderedEmail, parse_raw, render

BASE = "https://app.example.com"
PRODUCT = "Acme Accounts"
TOKEN = "Zx9_-abcDEF0123456789ghijklmnopqrstuvwxyzABCD"
SENDER = "no-reply@example.com"
REGION = "us-east-1"


def _render(kind: str, **overrides: object) -> RenderedEmail:
    arguments: dict[str, object] = {
        "product_name": PRODUCT,
        "app_base_url": BASE,
        "name": "Ann",
        "email": "ann@example.com",
        "token": TOKEN,
    }
    arguments.update(overrides)
    return render(kind, **arguments)  # type: ignore[arg-type]


# --- rendering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_renders_non_empty_subject_text_and_html_naming_the_product(kind: EmailKind) -> None:
    email = _render(kind)
    assert PRODUCT in email.subject
    assert email.text.strip() and email.html.strip()
    assert "Hi Ann," in email.text
    assert email.html.lstrip().startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in email.html
    assert "{{" not in email.text + email.html and "{%" not in email.text + email.html


def test_kinds_accept_plain_strings_and_refuse_unknown_ones() -> None:
    assert _render("welcome") == _render(EmailKind.WELCOME)
    with pytest.raises(ValueError):
        _render("newsletter")


def test_subjects_are_the_documented_ones() -> None:
    expected = {
        "verification": f"Verify your email for {PRODUCT}",
        "already_registered": f"{PRODUCT}: someone tried to sign up with your address",
        "password_reset": f"Reset your {PRODUCT} password",
        "password_changed": f"Your {PRODUCT} password was changed",
        "welcome": f"Welcome to {PRODUCT}",
    }
    assert {kind: _render(kind).subject for kind in expected} == expected


def test_verification_link_is_exactly_base_verify_email_with_token_in_both_parts() -> None:
    email = _render("verification")
    link = f"{BASE}/verify-email?token={TOKEN}"
    assert link in email.text
    assert f'href="{link}"' in email.html


def test_reset_link_is_exactly_base_reset_password_with_token_in_both_parts() -> None:
    email = _render("password_reset")
    link = f"{BASE}/reset-password?token={TOKEN}"
    assert link in email.text
    assert f'href="{link}"' in email.html


def test_trailing_slash_on_base_url_does_not_double_the_slash() -> None:
    email = _render("verification", app_base_url=BASE + "/")
    assert f"{BASE}/verify-email?token={TOKEN}" in email.text
    assert "//verify-email" not in email.text


def test_token_is_url_quoted_in_the_link() -> None:
    email = _render("password_reset", token="a b&c")
    assert f"{BASE}/reset-password?token=a%20b%26c" in email.text


@pytest.mark.parametrize("kind", ["verification", "password_reset"])
@pytest.mark.parametrize("token", [None, ""])
def test_token_emails_refuse_to_render_without_a_token(kind: str, token: str | None) -> None:
    with pytest.raises(ValueError, match="token"):
        _render(kind, token=token)


def test_already_registered_links_login_and_token_free_reset_page() -> None:
    email = _render("already_registered", token=None)
    for part in (email.text, email.html):
        assert f"{BASE}/login" in part
        assert f"{BASE}/reset-password" in part
        assert "token=" not in part


def test_password_changed_explains_and_links_reset_page() -> None:
    email = _render("password_changed", token=None)
    assert "was just changed" in email.text
    assert "If you did not change it" in email.text
    assert f"{BASE}/reset-password" in email.text
    assert f'href="{BASE}/reset-password"' in email.html
    assert "token=" not in email.text + email.html


def test_welcome_links_login_page() -> None:
    email = _render("welcome", token=None)
    assert f"{BASE}/login" in email.text
    assert f'href="{BASE}/login"' in email.html


def test_link_lifetime_is_mentioned_only_when_given() -> None:
    assert "expires" not in _render("verification").text
    assert "expires in 24 hours" in _render("verification", expires_in_hours=24).text
    assert "expires in 24 hours" in _render("verification", expires_in_hours=24).html
    assert "expires in 1 hour " in _render("password_reset", expires_in_hours=1).text


def test_html_escapes_a_script_name_and_never_contains_the_raw_tag() -> None:
    email = _render("verification", name="<script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.html
    assert "<script" not in email.html.lower()
    # The text part is plain text: no HTML escaping there, the name appears as typed.
    assert "Hi <script>alert(1)</script>," in email.text


def test_html_escapes_the_email_address_and_product_name() -> None:
    email = _render("welcome", email='"><img src=x onerror=alert(1)>@example.com', product_name="A&B")
    assert "<img" not in email.html
    assert "&#34;&gt;&lt;img" in email.html
    assert "A&amp;B" in email.html


@pytest.mark.parametrize("kind", list(EmailKind))
def test_crlf_in_user_values_never_reaches_the_subject(kind: EmailKind) -> None:
    email = _render(kind, name="Eve\r\nBcc: victim@example.com", email="eve@example.com")
    assert "\r" not in email.subject and "\n" not in email.subject
    assert "Bcc" not in email.subject and "Eve" not in email.subject


def test_crlf_in_product_name_is_flattened_in_the_subject() -> None:
    email = _render("welcome", product_name="Acme\r\nBcc: victim@example.com")
    assert email.subject == "Welcome to Acme Bcc: victim@example.com"


def test_line_breaks_in_name_cannot_forge_lines_in_the_text_part() -> None:
    email = _render("welcome", name="Ann\n\nClick https://evil.example/\n")
    assert "Hi Ann Click https://evil.example/," in email.text


def test_missing_name_uses_a_neutral_greeting() -> None:
    email = _render("welcome", name=None)
    assert email.text.startswith("Hello,")
    assert "Hello," in email.html


def test_environment_is_built_once_and_cached() -> None:
    from accounts import mailer

    _render("welcome")
    info = mailer._environment.cache_info()
    _render("welcome")
    assert mailer._environment.cache_info().misses == info.misses


def test_import_does_not_load_jinja2_or_boto3() -> None:
    import subprocess
    import sys
    from pathlib import Path

    from accounts import mailer

    layer = Path(mailer.__file__).resolve().parents[1]
    code = (
        "import sys, accounts.mailer, accounts.email_jobs\n"
        "heavy = [m for m in ('jinja2', 'boto3', 'botocore', 'email.message') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(layer)})


# --- MIME and SES --------------------------------------------------------------------------------


class _RecordingClient:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def send_email(self, **kwargs: object) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"MessageId": "m-1"}


def test_send_passes_the_configuration_set_when_set_and_omits_it_when_empty() -> None:
    email = _render("welcome")
    with_set = _RecordingClient()
    assert Mailer(sender=SENDER, configuration_set="events", client=with_set).send("a@example.com", email) == "m-1"
    assert with_set.calls[0]["ConfigurationSetName"] == "events"
    assert with_set.calls[0]["FromEmailAddress"] == SENDER
    assert with_set.calls[0]["Destination"] == {"ToAddresses": ["a@example.com"]}
    assert isinstance(with_set.calls[0]["Content"]["Raw"]["Data"], bytes)  # type: ignore[index]

    for empty in ("", None):
        without = _RecordingClient()
        Mailer(sender=SENDER, configuration_set=empty, client=without).send("a@example.com", email)
        assert "ConfigurationSetName" not in without.calls[0]


def test_send_refuses_a_recipient_with_line_breaks_or_several_addresses() -> None:
    client = _RecordingClient()
    mailer = Mailer(sender=SENDER, configuration_set=None, client=client)
    for bad in ("a@example.com\r\nBcc: b@example.com", "a@example.com, b@example.com", ""):
        with pytest.raises(ValueError):
            mailer.send(bad, _render("welcome"))
    assert client.calls == []


def test_mime_message_is_multipart_alternative_text_then_html_with_headers() -> None:
    import email
    from email.policy import default

    rendered = _render("verification", name="Zoë")
    raw = Mailer(sender=f"Acme <{SENDER}>", configuration_set=None).build_message("ann@example.com", rendered)
    message = email.message_from_bytes(raw, policy=default)
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(part.get_content_charset() == "utf-8" for part in message.iter_parts())
    assert message["From"] == f"Acme <{SENDER}>"
    assert message["To"] == "ann@example.com"
    assert message["Subject"] == rendered.subject
    assert message["Date"] and message["Message-ID"].endswith("@example.com>")
    assert b"\r\n" in raw  # SMTP line endings
    parsed = parse_raw(raw)
    assert parsed["text"] == rendered.text and parsed["html"] == rendered.html
    assert "Hi Zoë," in parsed["text"]


def test_non_ascii_product_name_is_encoded_in_the_header_and_decoded_back() -> None:
    rendered = _render("welcome", product_name="Café")
    raw = Mailer(sender=SENDER, configuration_set=None).build_message("ann@example.com", rendered)
    assert "Café".encode() not in raw.split(b"\r\n\r\n", 1)[0]  # headers are 7-bit (RFC 2047)
    assert parse_raw(raw)["subject"] == "Welcome to Café"


def _sent_messages() -> list:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages


def test_send_through_moto_delivers_a_raw_message_that_parses_back(aws: None) -> None:
    import boto3

    boto3.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    rendered = _render("password_reset", name="Ann <b>")
    mailer = Mailer(sender=SENDER, configuration_set=None)  # client created lazily, inside mock_aws

    message_id = mailer.send("ann@example.com", rendered)

    sent = _sent_messages()
    assert len(sent) == 1
    assert sent[0].id == message_id
    assert sent[0].source == SENDER
    parsed = parse_raw(sent[0].raw_data)
    assert parsed["to"] == ["ann@example.com"]
    assert parsed["subject"] == f"Reset your {PRODUCT} password"
    assert parsed["text"] == rendered.text
    assert parsed["html"] == rendered.html
    assert f"{BASE}/reset-password?token={TOKEN}" in parsed["text"]
    assert "Ann &lt;b&gt;" in parsed["html"]


def test_sending_from_an_unverified_identity_raises(aws: None) -> None:
    mailer = Mailer(sender="nobody@unverified.example", configuration_set=None)
    with pytest.raises(ClientError) as caught:
        mailer.send("ann@example.com", _render("welcome"))
    assert caught.value.response["Error"]["Code"] == "MessageRejected"
    assert _sent_messages() == []


def test_from_settings_uses_email_from_and_configuration_set() -> None:
    from types import SimpleNamespace

    mailer = Mailer.from_settings(SimpleNamespace(email_from=SENDER, ses_configuration_set=""))  # type: ignore[arg-type]
    assert mailer.sender == SENDER and mailer.configuration_set is None
    mailer = Mailer.from_settings(SimpleNamespace(email_from=SENDER, ses_configuration_set="cs"))  # type: ignore[arg-type]
    assert mailer.configuration_set == "cs"


def test_parse_raw_accepts_str_and_bytes_and_a_message_without_html() -> None:
    raw = "To: a@example.com, b@example.com\r\nSubject: Hi\r\nContent-Type: text/plain\r\n\r\nBody\r\n"
    for value in (raw, raw.encode()):
        assert parse_raw(value) == {
            "to": ["a@example.com", "b@example.com"],
            "subject": "Hi",
            "text": "Body\n",
            "html": "",
        }
