"""Helpers of the flow unit tests (tests/unit/test_*_flow.py).

The flows run against the real repository on moto's in-memory DynamoDB (tests.fakes.make_services;
the `services` fixture of tests/unit/conftest.py activates the `table` fixture), with a FakeQueue,
a FakeMailer and a settable Clock. The helpers drive the flows the way the functions do (the email
worker included) and read the table back through the pynamodb models.
"""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Callable
from typing import Any

import boto3

from accounts import key_ring
from accounts.email_jobs import JobKind
from accounts.emails import parse_address
from accounts.flows import cleanup, login, password_reset, registration, sessions, verification
from accounts.jwt_keys import verify_access_token
from accounts.models import Account, SecurityEvent, Session, User
from accounts.passwords import PasswordHasher
from accounts.services import Services
from tests.fakes import START, TABLE, Clock, FakeMailer

ADA = "ada@example.com"
NOBODY = "nobody@example.com"
PASSWORD = "Correct-Horse-Battery-9"
NEW_PASSWORD = "Xyzzy-Quux-2048!"
WRONG = "Wrong-Password-99!"
IP = "198.51.100.7"
USER_AGENT = "Mozilla/5.0 (flow tests)"
CLIENT = sessions.Client(ip=IP, user_agent=USER_AGENT)
HOUR = 3600
DAY = 86400
ISSUER, AUDIENCE = "https://api.example.com", "example-api"  # tests.fakes.TEST_SETTINGS

# One signing-key ring for every flow test (an RSA key takes a moment to generate).
KEYS = key_ring.parse_secret_value(key_ring.new_ring_secret_value(START))

DELIVERIES: dict[JobKind, Callable[..., str]] = {
    JobKind.VERIFICATION: verification.deliver_verification,
    JobKind.VERIFICATION_REMINDER: verification.deliver_reminder,
    JobKind.WELCOME: verification.deliver_welcome,
    JobKind.PASSWORD_RESET: password_reset.deliver_reset,
    JobKind.PASSWORD_CHANGED: password_reset.deliver_password_changed,
}

assert START % HOUR == 0, "the tests assume the clock starts on a whole hour (window boundaries)"


# --- spies ----------------------------------------------------------------------------------------


class SpyHasher:
    """Delegates to the real hasher and counts the flow's calls (not the inner ones)."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.calls: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.real, name)
        if name not in {"hash", "verify", "needs_rehash", "dummy_verify"}:
            return attribute

        def spy(*args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.calls[name] += 1
            return attribute(*args, **kwargs)

        return spy


def spy_on_hasher(services: Services) -> SpyHasher:
    spy = SpyHasher(services.hasher)
    services.hasher = spy  # type: ignore[assignment]
    return spy


class RecordingRepository:
    """Delegates to the real repository and records the names of the methods the flow calls."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.real, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute

        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return attribute(*args, **kwargs)

        return record


def record_repository_calls(services: Services) -> RecordingRepository:
    recorder = RecordingRepository(services.repo)
    services.repo = recorder  # type: ignore[assignment]
    return recorder


def set_on_both(user_id: str, email: str = ADA, **values: Any) -> None:
    """What an admin action writes: the same attributes on the Account and on the User item."""
    for item in (Account(*Account.key(parse_address(email).key)), User(*User.key(user_id))):
        item.update(actions=[getattr(type(item), name).set(value) for name, value in values.items()])


def clock(services: Services) -> Clock:
    return services.now  # type: ignore[return-value]


# --- driving the flows ----------------------------------------------------------------------------


def register(services: Services, email: str = ADA, password: str = PASSWORD, name: str | None = "Ada",
             ip: str = IP):
    return registration.register(services, email=parse_address(email), password=password, name=name, ip=ip)


def resend(services: Services, email: str = ADA, ip: str = IP):
    return verification.resend(services, email=parse_address(email), ip=ip)


def request_reset(services: Services, email: str = ADA, ip: str = IP):
    return password_reset.request_reset(services, email=parse_address(email), ip=ip)


def deliver(services: Services, mailer: FakeMailer, *, first_attempt: bool = True) -> list[str]:
    """Run the email worker's flow functions over every queued job, in order (like the SQS worker)."""
    return [DELIVERIES[job.kind](services, mailer, job, first_attempt=first_attempt)
            for job in services.queue.take()]


def token_in(mailer: FakeMailer, index: int = -1) -> str:
    _, email = mailer.sent[index]
    match = re.search(r"[?&]token=([A-Za-z0-9_\-]+)", email.text)
    assert match, "no token link in the email"
    return match.group(1)


def verify(services: Services, token: str, ip: str = IP):
    return verification.verify_email(services, token=token, ip=ip)


def confirm(services: Services, token: str, password: str = NEW_PASSWORD, ip: str = IP):
    return password_reset.confirm_reset(services, token=token, password=password, ip=ip,
                                        user_agent=USER_AGENT)


def log_in(services: Services, email: str = ADA, password: str = PASSWORD,
           client: sessions.Client = CLIENT) -> sessions.IssuedTokens:
    issued, _ = login.login(services, KEYS, email=parse_address(email), password=password, client=client)
    return issued


def rotate(services: Services, refresh_token: str, client: sessions.Client = CLIENT) -> sessions.IssuedTokens:
    return sessions.refresh(services, KEYS, refresh_token=refresh_token, client=client)


def claims_of(services: Services, issued: sessions.IssuedTokens) -> dict[str, Any]:
    """The access token's claims, checked like the JWT authorizer does (signature, iss, aud, exp)."""
    return verify_access_token(issued.access_token, KEYS, issuer=ISSUER, audience=AUDIENCE,
                               now=services.now())


def authenticate(services: Services, issued: sessions.IssuedTokens) -> tuple[User, Session]:
    return sessions.authenticate(services, claims_of(services, issued))


def run_cleanup(services: Services, *, rounds: int | None = None) -> cleanup.CleanupReport:
    """One scheduled run; with `rounds`, the invocation's time runs out after that many rounds (a
    round reads one page of every index partition that may hold more)."""
    left = [rounds]

    def remaining_ms() -> int:
        if left[0] is None:
            return 900_000
        left[0] -= 1
        return 900_000 if left[0] >= 0 else cleanup.SAFETY_MARGIN_MS - 1

    return cleanup.run_cleanup(services, remaining_ms=remaining_ms)


def reset_link(services: Services, mailer: FakeMailer, email: str = ADA) -> str:
    request_reset(services, email)
    assert deliver(services, mailer) == ["sent_password_reset"]
    return token_in(mailer)


def verified_account(services: Services, mailer: FakeMailer, email: str = ADA,
                     password: str = PASSWORD) -> Account:
    """A verified account; queue and mailer are empty afterwards."""
    register(services, email, password)
    assert deliver(services, mailer) == ["sent_verification"]
    verify(services, token_in(mailer))
    services.queue.take()
    mailer.sent.clear()
    found = account(services, email)
    assert found.verified
    return found


def failures(outcomes: list[Any]) -> list[BaseException]:
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]


# --- reading the table back -----------------------------------------------------------------------


def find_account(services: Services, email: str = ADA) -> Account | None:
    return services.repo.get_account(parse_address(email).key)


def account(services: Services, email: str = ADA) -> Account:
    found = find_account(services, email)
    assert found is not None, f"no account for {email}"
    return found


def find_user(user_id: str) -> User | None:
    try:
        return User.get(*User.key(user_id), consistent_read=True)
    except User.DoesNotExist:
        return None


def events(user_id: str) -> list[SecurityEvent]:
    """The user's security events, oldest first."""
    return list(SecurityEvent.query(f"USER#{user_id}", SecurityEvent.sk.startswith("EVENT#"),
                                    consistent_read=True))


def event_types(user_id: str) -> list[str]:
    return [event.type for event in events(user_id)]


def sessions_of(user_id: str) -> list[Session]:
    return list(Session.query(f"USER#{user_id}", Session.sk.startswith("SESSION#"), consistent_read=True))


def table_items() -> list[dict[str, Any]]:
    """Every item of the table, raw (a test-only Scan; the service never scans)."""
    client = boto3.client("dynamodb")
    items, request = [], {"TableName": TABLE, "ConsistentRead": True}
    while True:
        page = client.scan(**request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def item_keys(prefix: str = "") -> list[str]:
    """The partition keys of the table's items that start with `prefix`."""
    return [item["pk"]["S"] for item in table_items() if item["pk"]["S"].startswith(prefix)]


def items_except(*prefixes: str) -> list[dict[str, Any]]:
    """The table's items, but those whose partition key starts with one of `prefixes`."""
    return [item for item in table_items() if not item["pk"]["S"].startswith(prefixes)]
