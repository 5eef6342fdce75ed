"""A bad variable is named in one line that never repeats its value (it may be a mistyped secret)."""

from __future__ import annotations

import pytest

from accounts import settings
from tests.handlers.conftest import ENVIRONMENT

SENTINEL = "s3cr3t-sentinel"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RATE_LIMIT_LOGIN_PER_IP", f"{SENTINEL}/60"),
        ("LOGIN_LOCKOUT", SENTINEL),
        ("CORS_ALLOWED_ORIGINS", f"https://ok.example.com,{SENTINEL}"),
        ("APP_BASE_URL", f"ftp://{SENTINEL}"),
        ("ACCESS_TOKEN_TTL_SECONDS", SENTINEL),
    ],
)
def test_error_line_names_the_variable_without_its_value(monkeypatch, variable, value):
    for name, default in ENVIRONMENT.items():
        monkeypatch.setenv(name, default)
    monkeypatch.setenv("EMAIL_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/emails")
    monkeypatch.setenv(variable, value)
    settings.get_settings.cache_clear()
    with pytest.raises(settings.ConfigurationError) as caught:
        settings.get_settings()
    settings.get_settings.cache_clear()
    message = str(caught.value)
    assert variable in message and "\n" not in message
    assert SENTINEL not in message
