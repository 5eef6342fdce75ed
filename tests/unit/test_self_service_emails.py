"""The self-service email kinds (email-change link, email-changed notice, account deleted) and the
email_change job's `user_id`."""

from __future__ import annotations

import pytest

from accounts.email_jobs import EmailJob, JobKind
from accounts.mailer import EmailKind, render

BASE = "https://app.example.com"
TOKEN = "Zx9_-abcDEF0123456789ghijklmnopqrstuvwxyzABCD"
USER_ID = "0b7f5c3e2d1a4c8b9e6f1a2b3c4d5e6f"
KINDS = (EmailKind.EMAIL_CHANGE, EmailKind.EMAIL_CHANGED, EmailKind.ACCOUNT_DELETED)


def _render(kind: EmailKind, **overrides: object):
    arguments: dict[str, object] = {"product_name": "Acme", "app_base_url": BASE, "name": "Ann",
                                    "email": "ann@example.com", "token": TOKEN, "expires_in_hours": 1}
    arguments.update(overrides)
    return render(kind, **arguments)  # type: ignore[arg-type]


def test_the_email_change_link_opens_confirm_email_in_both_parts() -> None:
    email = _render(EmailKind.EMAIL_CHANGE)
    link = f"{BASE}/confirm-email?token={TOKEN}"
    assert link in email.text and f'href="{link}"' in email.html
    assert "1 hour" in email.text and "works once" in email.text


def test_the_email_change_link_needs_a_token() -> None:
    with pytest.raises(ValueError):
        _render(EmailKind.EMAIL_CHANGE, token=None)


@pytest.mark.parametrize("kind", [EmailKind.EMAIL_CHANGED, EmailKind.ACCOUNT_DELETED])
def test_notices_carry_no_token_link(kind: EmailKind) -> None:
    email = _render(kind, token=None)
    assert "token=" not in email.text + email.html
    assert "ann@example.com" in email.text


@pytest.mark.parametrize("kind", KINDS)
def test_user_values_are_escaped_in_html(kind: EmailKind) -> None:
    email = _render(kind, name="<script>alert(1)</script>", email="a&b<i>@example.com")
    assert "<script>" not in email.html and "&lt;script&gt;" in email.html
    assert "a&b<i>" not in email.html and "a&amp;b&lt;i&gt;" in email.html


def test_subjects_name_the_product_only() -> None:
    assert {kind: _render(kind).subject for kind in KINDS} == {
        EmailKind.EMAIL_CHANGE: "Confirm your new email address for Acme",
        EmailKind.EMAIL_CHANGED: "The email address of your Acme account was changed",
        EmailKind.ACCOUNT_DELETED: "Your Acme account was deleted",
    }


def test_an_email_change_job_names_its_user_and_round_trips() -> None:
    job = EmailJob(kind=JobKind.EMAIL_CHANGE, email="ann@example.org", user_id=USER_ID)
    assert EmailJob.parse(job.to_json()) == job
    assert job.to_dict()["user_id"] == USER_ID


@pytest.mark.parametrize(("kind", "user_id"), [
    (JobKind.EMAIL_CHANGE, None),  # required
    (JobKind.EMAIL_CHANGED, USER_ID),  # only for email_change
    (JobKind.EMAIL_CHANGE, "not-an-id"),
    (JobKind.EMAIL_CHANGE, USER_ID.upper()),
])
def test_user_id_is_refused_where_it_does_not_belong(kind: JobKind, user_id: str | None) -> None:
    with pytest.raises(ValueError):
        EmailJob(kind=kind, email="ann@example.org", user_id=user_id)


def test_other_jobs_keep_their_shape() -> None:
    job = EmailJob(kind=JobKind.ACCOUNT_DELETED, email="Ann@example.com")
    assert job.to_dict() == {"kind": "account_deleted", "email": "Ann@example.com", "registration_id": None}
