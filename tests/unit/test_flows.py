"""The flow logic (accounts.flows.*) with in-memory collaborators: no AWS, no moto.

Each test names the rule it checks. The fakes (tests/fakes.py) keep the repository's semantics
(conditions, domain exceptions, pynamodb models), so what passes here is the flows' own logic.
"""

from __future__ import annotations

import collections
import re
from typing import Any

import pytest

from accounts import tokens
from accounts.email_jobs import EmailJob, JobKind
from accounts.emails import parse_address
from accounts.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidGrant,
    InvalidToken,
    RateLimited,
    TokenExpired,
    Unauthorized,
    WeakPassword,
)
from accounts.flows import cleanup, password_reset, registration, sessions, verification
from accounts.jwt_keys import SigningKeys, generate_private_key_pem, verify_access_token
from accounts.models import EmailToken, RefreshToken, RevokedFamily, User
from accounts.passwords import (
    MSG_COMMON,
    MSG_CONTAINS_EMAIL,
    MSG_NO_DIGIT,
    MSG_NO_SYMBOL,
    MSG_NO_UPPER,
    MSG_TOO_SHORT,
    PasswordHasher,
)
from accounts.rate_limits import Lockout, RateLimiter, Window, counter_key
from accounts.repository import TokenAlreadyUsed
from accounts.services import Services
from accounts.settings import RateLimit
from tests.fakes import START, Clock, FakeMailer, InMemoryRepository, MailerDown, make_services

ADA = "ada@example.com"
NOBODY = "nobody@example.com"
PASSWORD = "Correct-Horse-Battery-9"
NEW_PASSWORD = "Xyzzy-Quux-2048!"
WRONG = "Wrong-Password-99!"
IP = "198.51.100.7"
DAY = 86400

# One RSA key for the whole module (generating one takes a moment).
KEYS = SigningKeys.from_pems(generate_private_key_pem())

DELIVERIES = {
    JobKind.VERIFICATION: verification.deliver_verification,
    JobKind.WELCOME: verification.deliver_welcome,
    JobKind.PASSWORD_RESET: password_reset.deliver_reset,
    JobKind.PASSWORD_CHANGED: password_reset.deliver_password_changed,
}

assert START % 3600 == 0, "the tests below assume the clock starts on a whole hour (window boundaries)"


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture
def services() -> Services:
    return make_services()


@pytest.fixture
def mailer() -> FakeMailer:
    return FakeMailer()


class SpyHasher:
    """Delegates to the real hasher and counts the calls of the flow (not the inner ones)."""

    def __init__(self, real: PasswordHasher) -> None:
        self.real = real
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.real, name)
        if name not in {"hash", "verify", "needs_rehash", "dummy_verify"}:
            return attribute

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return spy


def spy_on_hasher(services: Services) -> SpyHasher:
    spy = SpyHasher(services.hasher)
    services.hasher = spy  # type: ignore[assignment]
    return spy


def repo(services: Services) -> InMemoryRepository:
    return services.repo  # type: ignore[return-value]


def clock(services: Services) -> Clock:
    return services.now  # type: ignore[return-value]


def register(services: Services, email: str = ADA, password: str = PASSWORD, name: str | None = "Ada", ip: str = IP):
    return registration.register(services, email=parse_address(email), password=password, name=name, ip=ip)


def deliver(services: Services, mailer: FakeMailer, *, first_attempt: bool = True) -> list[str]:
    """Run the email worker's flow functions over every queued job (like the SQS worker)."""
    return [
        DELIVERIES[job.kind](services, mailer, job, first_attempt=first_attempt) for job in services.queue.take()
    ]


def token_in(mailer: FakeMailer, index: int = -1) -> str:
    _, email = mailer.sent[index]
    match = re.search(r"[?&]token=([A-Za-z0-9_\-]+)", email.text)
    assert match, "no token link in the email"
    return match.group(1)


def verify(services: Services, token: str, ip: str = IP):
    return verification.verify_email(services, token=token, ip=ip)


def confirm(services: Services, token: str, password: str = NEW_PASSWORD, ip: str = IP):
    return password_reset.confirm_reset(services, token=token, password=password, ip=ip)


def log_in(services: Services, email: str = ADA, password: str = PASSWORD, ip: str = IP) -> sessions.IssuedTokens:
    issued, _ = sessions.login(services, KEYS, email=parse_address(email), password=password, ip=ip)
    return issued


def rotate(services: Services, refresh_token: str, ip: str = IP) -> sessions.IssuedTokens:
    issued, _ = sessions.refresh(services, KEYS, refresh_token=refresh_token, ip=ip)
    return issued


def verified_account(services: Services, mailer: FakeMailer, email: str = ADA, password: str = PASSWORD) -> User:
    """A verified account; queue and mailer are empty afterwards."""
    register(services, email, password)
    assert deliver(services, mailer) == ["sent_verification"]
    verify(services, token_in(mailer))
    services.queue.take()
    mailer.sent.clear()
    user = repo(services).get_user(parse_address(email).key)
    assert user is not None and user.verified
    return user


def reset_link(services: Services, mailer: FakeMailer, email: str = ADA) -> str:
    password_reset.request_reset(services, email=parse_address(email), ip=IP)
    assert deliver(services, mailer) == ["sent_password_reset"]
    return token_in(mailer)


def stored_user(services: Services, email: str = ADA) -> User:
    user = repo(services).get_user(email)
    assert user is not None
    return user


# --- registration --------------------------------------------------------------------------------


def test_register_creates_an_unverified_account_with_a_hashed_password_and_queues_one_job(services):
    register(services, "  Ada@Example.COM ")
    user = stored_user(services, ADA)  # keyed by the normalized address
    assert user.email == "Ada@example.com"  # what the user typed (trimmed, domain normalized)
    assert user.verified is False and user.name == "Ada" and user.session_epoch == 0
    assert user.password_hash.startswith("$argon2id$") and services.hasher.verify(user.password_hash, PASSWORD)
    assert services.queue.jobs == [
        EmailJob(kind=JobKind.VERIFICATION, email=ADA, registration_id=user.registration_id)
    ]


@pytest.mark.parametrize("state", ["new", "pending", "verified"])
def test_register_always_hashes_once_and_queues_exactly_one_job(services, mailer, state):
    """Same work whatever the state of the address: the answer and its timing tell nothing."""
    if state == "pending":
        register(services)
        services.queue.take()
    elif state == "verified":
        verified_account(services, mailer)
    spy = spy_on_hasher(services)
    register(services, password=NEW_PASSWORD)
    assert spy.calls == {"hash": 1}
    [job] = services.queue.jobs
    assert job.kind is JobKind.VERIFICATION and job.email == ADA and job.registration_id


def test_only_a_new_account_counts_as_a_registration(services, mailer, monkeypatch):
    counted: list[str] = []
    monkeypatch.setattr(registration, "count", lambda name, value=1: counted.append(name))
    register(services)
    register(services, password=NEW_PASSWORD)  # replaces the pending one
    assert counted == ["Registrations"]
    services.queue.take()
    grace = verified_account(services, mailer, "grace@example.com")
    counted.clear()
    register(services, grace.email)  # a verified address
    assert counted == []


def test_registering_a_verified_address_changes_nothing(services, mailer):
    verified_account(services, mailer)
    before = repo(services).raw(User.key(ADA))
    register(services, password=NEW_PASSWORD, name="Mallory")
    assert repo(services).raw(User.key(ADA)) == before


def test_weak_password_reports_every_unmet_rule_and_stores_nothing(services):
    spy = spy_on_hasher(services)
    with pytest.raises(WeakPassword) as caught:
        register(services, "password@example.com", password="password")
    assert (caught.value.status, caught.value.code) == (422, "weak_password")
    assert caught.value.errors == [
        {"field": "password", "message": message}
        for message in (
            MSG_TOO_SHORT.format(min_length=12),
            MSG_NO_UPPER,
            MSG_NO_DIGIT,
            MSG_NO_SYMBOL,
            MSG_COMMON,
            MSG_CONTAINS_EMAIL,
        )
    ]
    assert repo(services).keys("USER#") == [] and services.queue.jobs == [] and spy.calls["hash"] == 0


def test_reregistering_a_pending_address_replaces_password_and_name_and_supersedes_its_links(services, mailer):
    register(services, password=PASSWORD, name="Ada")
    deliver(services, mailer)
    first_link = token_in(mailer)
    first = stored_user(services)

    register(services, password=NEW_PASSWORD, name="Mallory")
    second = stored_user(services)
    assert second.user_id == first.user_id and second.created_at == first.created_at  # the same account
    assert second.name == "Mallory" and second.registration_id != first.registration_id
    assert services.hasher.verify(second.password_hash, NEW_PASSWORD)
    assert not services.hasher.verify(second.password_hash, PASSWORD)
    with pytest.raises(InvalidToken):
        verify(services, first_link)

    assert deliver(services, mailer) == ["sent_verification"]
    verify(services, token_in(mailer))
    log_in(services, password=NEW_PASSWORD)  # the password of the registration whose link was used
    with pytest.raises(InvalidCredentials):
        log_in(services, password=PASSWORD)


def test_reregistering_without_a_name_removes_the_pending_name(services):
    register(services, name="Ada")
    register(services, name=None)
    assert stored_user(services).name is None


def test_a_queued_job_of_a_replaced_registration_sends_nothing(services, mailer):
    register(services, password=PASSWORD)
    register(services, password=NEW_PASSWORD)
    assert deliver(services, mailer) == ["stale", "sent_verification"]
    assert len(mailer.sent) == 1


def test_register_per_ip_limit_refuses_before_any_work():
    services = make_services(rate_limit_register_per_ip="2/3600")
    register(services, "a@example.com")
    register(services, "b@example.com")
    spy = spy_on_hasher(services)
    with pytest.raises(RateLimited) as caught:
        register(services, "c@example.com")
    assert caught.value.retry_after == 3600
    assert spy.calls == {} and repo(services).get_user("c@example.com") is None
    assert len(services.queue.jobs) == 2
    register(services, "c@example.com", ip="203.0.113.9")  # another source IP has its own budget


# --- verification --------------------------------------------------------------------------------


def test_verify_consumes_the_link_verifies_the_account_and_queues_one_welcome(services, mailer):
    register(services)
    deliver(services, mailer)
    verify(services, token_in(mailer))
    user = stored_user(services)
    assert user.verified is True and user.verify_token_hash is None
    assert user.cleanup_bucket is None  # no longer a candidate for the unverified-account cleanup
    assert services.queue.jobs == [EmailJob(kind=JobKind.WELCOME, email=ADA)]
    assert deliver(services, mailer) == ["sent_welcome"]


def test_verify_unknown_token_is_invalid(services):
    with pytest.raises(InvalidToken):
        verify(services, tokens.new_token())


def test_verify_malformed_token_is_invalid_without_a_lookup(services):
    with pytest.raises(InvalidToken):
        verify(services, "not-a-token")
    assert "get_email_token" not in repo(services).calls


@pytest.mark.parametrize(("offset", "expired"), [(-1, False), (0, True), (1, True)])
def test_verification_link_expires_exactly_at_its_expiry(services, mailer, offset, expired):
    register(services)
    deliver(services, mailer)  # issued at START
    clock(services).now = START + services.settings.verify_token_ttl_seconds + offset
    if expired:
        with pytest.raises(TokenExpired):
            verify(services, token_in(mailer))
        assert stored_user(services).verified is False
    else:
        verify(services, token_in(mailer))
        assert stored_user(services).verified is True


def test_used_link_of_a_verified_account_answers_again_without_a_second_welcome(services, mailer):
    register(services)
    deliver(services, mailer)
    link = token_in(mailer)
    verify(services, link)
    assert [job.kind for job in services.queue.take()] == [JobKind.WELCOME]
    verify(services, link)  # a second click, or a mail scanner that POSTs: no error
    clock(services).advance(2 * DAY)  # even once the link has expired
    verify(services, link)
    assert services.queue.jobs == []


def test_the_loser_of_a_concurrent_verification_gets_no_error_and_sends_no_welcome(services, mailer):
    register(services)
    deliver(services, mailer)
    link = token_in(mailer)
    unused = repo(services).get_email_token("verify", tokens.hash_token(link))
    verify(services, link)
    services.queue.take()
    # The second request read the token before the first one consumed it.
    repo(services).get_email_token = lambda purpose, token_hash: unused  # type: ignore[method-assign]
    with pytest.raises(TokenAlreadyUsed):
        repo(services).consume_verification(unused, tokens.hash_token(link), now=START)
    verify(services, link)
    assert services.queue.jobs == []


def test_a_link_whose_account_was_deleted_meanwhile_does_not_report_success(services, mailer):
    register(services)
    clock(services).now = START + 6 * DAY + 12 * 3600  # day 6.5: a fresh link, valid until day 7.5
    verification.resend(services, email=parse_address(ADA), ip=IP)
    deliver(services, mailer)
    link = token_in(mailer)
    clock(services).now = START + 7 * DAY
    read_before_cleanup = repo(services).get_email_token("verify", tokens.hash_token(link))
    assert run_cleanup(services)["UnverifiedAccounts"] == 1  # runs between the request's read and write
    repo(services).get_email_token = lambda purpose, token_hash: read_before_cleanup  # type: ignore[method-assign]
    with pytest.raises(InvalidToken):
        verify(services, link)


def test_superseded_link_is_invalid_and_the_newest_works(services, mailer):
    register(services)
    deliver(services, mailer)
    old = token_in(mailer)
    verification.resend(services, email=parse_address(ADA), ip=IP)
    deliver(services, mailer)
    new = token_in(mailer)
    with pytest.raises(InvalidToken):
        verify(services, old)
    assert stored_user(services).verified is False
    verify(services, new)
    assert stored_user(services).verified is True


def test_tokens_are_purpose_bound(services, mailer):
    register(services)
    deliver(services, mailer)
    verify_link = token_in(mailer)
    reset = reset_link(services, mailer)
    with pytest.raises(InvalidToken):
        confirm(services, verify_link)
    with pytest.raises(InvalidToken):
        verify(services, reset)


def test_only_the_token_hash_is_stored(services, mailer):
    register(services)
    deliver(services, mailer)
    link = token_in(mailer)
    assert link not in repr(repo(services).items)
    assert repo(services).raw(EmailToken.key("verify", tokens.hash_token(link))) is not None


@pytest.mark.parametrize("state", ["unknown", "pending", "verified"])
def test_resend_queues_one_job_and_reads_nothing_whatever_the_address(services, mailer, state):
    if state == "pending":
        register(services)
    elif state == "verified":
        verified_account(services, mailer)
    services.queue.take()
    repo(services).calls.clear()
    verification.resend(services, email=parse_address(ADA), ip=IP)
    assert services.queue.jobs == [EmailJob(kind=JobKind.VERIFICATION, email=ADA)]
    assert repo(services).calls == ["add_to_counter"]  # the per-IP limit only


def test_token_per_ip_limit_applies_to_verify():
    services = make_services(rate_limit_token_per_ip="1/60")
    with pytest.raises(InvalidToken):
        verify(services, tokens.new_token())
    with pytest.raises(RateLimited) as caught:
        verify(services, tokens.new_token())
    assert caught.value.retry_after == 60


# --- the verification worker ---------------------------------------------------------------------


def test_worker_sends_nothing_for_an_unknown_address(services, mailer):
    verification.resend(services, email=parse_address(NOBODY), ip=IP)
    register(services, NOBODY)
    repo(services).items.pop(User.key(NOBODY))  # the registration's job outlives its account
    assert deliver(services, mailer) == ["unknown_address", "unknown_address"]
    assert mailer.sent == [] and repo(services).keys("TOKEN#") == []


def test_worker_sends_the_already_registered_notice_for_a_registration_of_a_verified_address(services, mailer):
    verified_account(services, mailer)
    tokens_before = repo(services).keys("TOKEN#")
    register(services, password=NEW_PASSWORD)
    assert deliver(services, mailer) == ["sent_already_registered"]
    [(to, email)] = mailer.sent
    assert to == ADA and "someone tried to sign up" in email.subject and "token=" not in email.text
    assert repo(services).keys("TOKEN#") == tokens_before  # no link was issued


def test_worker_sends_nothing_for_a_resend_to_a_verified_address(services, mailer):
    verified_account(services, mailer)
    verification.resend(services, email=parse_address(ADA), ip=IP)
    assert deliver(services, mailer) == ["already_verified"]
    assert mailer.sent == []


def test_per_address_limit_stops_mail_silently_on_first_attempts_but_not_retries(services, mailer):
    register(services)  # limit 3/3600 per address and purpose
    for _ in range(2):
        verification.resend(services, email=parse_address(ADA), ip=IP)
    assert deliver(services, mailer) == ["sent_verification"] * 3
    key = counter_key("email_verification", ADA, Window.at(START, 3600))
    assert repo(services).raw(key)["hits"] == 3

    verification.resend(services, email=parse_address(ADA), ip=IP)
    assert deliver(services, mailer) == ["email_limited"]  # no exception: SQS must not retry it
    assert len(mailer.sent) == 3
    assert repo(services).raw(key)["hits"] == 4

    verification.resend(services, email=parse_address(ADA), ip=IP)
    assert deliver(services, mailer, first_attempt=False) == ["sent_verification"]  # a retry is not counted
    assert repo(services).raw(key)["hits"] == 4 and len(mailer.sent) == 4

    clock(services).now = START + 3600  # a new window
    verification.resend(services, email=parse_address(ADA), ip=IP)
    assert deliver(services, mailer) == ["sent_verification"]


def test_per_address_limit_applies_to_already_registered_notices(services, mailer):
    verified_account(services, mailer)
    for _ in range(4):
        register(services)
    assert deliver(services, mailer) == ["sent_already_registered"] * 3 + ["email_limited"]


def test_per_address_limit_counts_each_purpose_separately(services, mailer):
    register(services)
    for _ in range(3):
        verification.resend(services, email=parse_address(ADA), ip=IP)
    assert deliver(services, mailer)[-1] == "email_limited"
    password_reset.request_reset(services, email=parse_address(ADA), ip=IP)
    assert deliver(services, mailer) == ["sent_password_reset"]


def test_replaced_registrations_do_not_use_up_the_per_address_email_budget(services, mailer):
    for _ in range(4):  # the form submitted four times before the worker ran (limit 3/3600)
        register(services)
    assert deliver(services, mailer) == ["stale", "stale", "stale", "sent_verification"]
    verification.resend(services, email=parse_address(ADA), ip=IP)  # the second email of the hour
    assert deliver(services, mailer) == ["sent_verification"]


def test_a_mailer_failure_raises_for_a_retry_and_the_retry_sends_a_working_link(services, mailer):
    register(services)
    mailer.fail = True
    job = services.queue.jobs[0]
    with pytest.raises(MailerDown):
        deliver(services, mailer)
    assert stored_user(services).verified is False  # the account is there; the API answered as usual
    mailer.fail = False
    services.queue.enqueue(job)  # SQS redelivers the same message
    assert deliver(services, mailer, first_attempt=False) == ["sent_verification"]
    verify(services, token_in(mailer))
    assert stored_user(services).verified is True


def test_welcome_is_skipped_for_an_account_that_is_not_verified(services, mailer):
    register(services)
    services.queue.take()
    services.queue.enqueue(EmailJob(kind=JobKind.WELCOME, email=ADA))
    assert deliver(services, mailer) == ["skipped"] and mailer.sent == []


@pytest.mark.parametrize(("ttl", "stated"), [(86400, "expires in 24 hours"), (3600, "expires in 1 hour"), (5400, None)])
def test_verification_email_states_the_link_lifetime_only_when_it_is_whole_hours(mailer, ttl, stated):
    services = make_services(verify_token_ttl_seconds=ttl)
    register(services)
    deliver(services, mailer)
    _, email = mailer.sent[0]
    if stated:
        assert stated in email.text
    else:
        assert "expires in" not in email.text  # 1.5 hours is never rounded to "1 hour"


# --- password reset ------------------------------------------------------------------------------


@pytest.mark.parametrize("known", [True, False])
def test_reset_request_queues_one_job_and_reads_nothing_whether_or_not_the_account_exists(services, mailer, known):
    if known:
        verified_account(services, mailer)
    repo(services).calls.clear()
    password_reset.request_reset(services, email=parse_address(ADA), ip=IP)
    assert services.queue.jobs == [EmailJob(kind=JobKind.PASSWORD_RESET, email=ADA)]
    assert repo(services).calls == ["add_to_counter"]


def test_reset_for_an_unknown_address_sends_nothing(services, mailer):
    password_reset.request_reset(services, email=parse_address(NOBODY), ip=IP)
    assert deliver(services, mailer) == ["unknown_address"]
    assert mailer.sent == [] and repo(services).keys("TOKEN#") == []


def test_reset_email_carries_a_reset_link_from_the_configured_base_url(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    [(to, email)] = mailer.sent
    assert to == ADA and f"https://app.example.com/reset-password?token={token}" in email.text


def test_confirm_with_a_weak_password_leaves_the_token_usable(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    with pytest.raises(WeakPassword):
        confirm(services, token, "short")
    record = repo(services).get_email_token("reset", tokens.hash_token(token))
    assert record.used_at is None
    assert services.hasher.verify(stored_user(services).password_hash, PASSWORD)
    confirm(services, token, NEW_PASSWORD)
    assert services.hasher.verify(stored_user(services).password_hash, NEW_PASSWORD)


def test_confirm_sets_the_password_and_queues_the_security_notice(services, mailer):
    user = verified_account(services, mailer)
    token = reset_link(services, mailer)
    confirm(services, token)
    after = stored_user(services)
    assert after.session_epoch == user.session_epoch + 1 and after.reset_token_hash is None
    assert services.queue.jobs == [EmailJob(kind=JobKind.PASSWORD_CHANGED, email=ADA)]
    assert deliver(services, mailer) == ["sent_password_changed"]
    log_in(services, password=NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=PASSWORD)


def test_confirm_revokes_every_session(services, mailer):
    verified_account(services, mailer)
    first, second = log_in(services), log_in(services)
    confirm(services, reset_link(services, mailer))
    for issued in (first, second):
        with pytest.raises(InvalidGrant):
            rotate(services, issued.refresh_token)
    rotate(services, log_in(services, password=NEW_PASSWORD).refresh_token)  # new sessions work


def test_confirm_verifies_a_pending_account_and_supersedes_its_verification_link(services, mailer):
    register(services)
    deliver(services, mailer)
    verify_link = token_in(mailer)
    confirm(services, reset_link(services, mailer))
    user = stored_user(services)
    assert user.verified is True and user.cleanup_bucket is None and user.verify_token_hash is None
    with pytest.raises(InvalidToken):
        verify(services, verify_link)
    log_in(services, password=NEW_PASSWORD)


def test_used_reset_token_is_always_invalid(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    confirm(services, token)
    with pytest.raises(InvalidToken):
        confirm(services, token, "Another-Strong-Pass-7")
    assert services.hasher.verify(stored_user(services).password_hash, NEW_PASSWORD)


@pytest.mark.parametrize(("offset", "expired"), [(-1, False), (0, True)])
def test_reset_link_expires_exactly_at_its_expiry(services, mailer, offset, expired):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    clock(services).now = START + services.settings.reset_token_ttl_seconds + offset
    if expired:
        with pytest.raises(TokenExpired):
            confirm(services, token)
    else:
        confirm(services, token)


def test_a_new_reset_link_supersedes_the_older_one(services, mailer):
    verified_account(services, mailer)
    old = reset_link(services, mailer)
    new = reset_link(services, mailer)
    with pytest.raises(InvalidToken):
        confirm(services, old)
    confirm(services, new)


def test_reset_emails_are_limited_per_address_but_password_changed_notices_are_not(services, mailer):
    verified_account(services, mailer)
    for _ in range(4):
        password_reset.request_reset(services, email=parse_address(ADA), ip=IP)
    assert deliver(services, mailer) == ["sent_password_reset"] * 3 + ["email_limited"]
    for _ in range(5):
        services.queue.enqueue(EmailJob(kind=JobKind.PASSWORD_CHANGED, email=ADA))
    assert deliver(services, mailer) == ["sent_password_changed"] * 5


def test_reset_and_resend_share_the_per_ip_mail_limit():
    services = make_services(rate_limit_mail_per_ip="2/3600")
    password_reset.request_reset(services, email=parse_address(ADA), ip=IP)
    verification.resend(services, email=parse_address(ADA), ip=IP)
    with pytest.raises(RateLimited):
        password_reset.request_reset(services, email=parse_address(ADA), ip=IP)
    assert len(services.queue.jobs) == 2


# --- login ---------------------------------------------------------------------------------------


def test_login_issues_a_verifiable_access_token_and_a_stored_hashed_refresh_token(services, mailer):
    user = verified_account(services, mailer)
    issued = log_in(services)
    claims = verify_access_token(
        issued.access_token, KEYS, issuer="https://api.example.com", audience="example-api", now=START
    )
    assert claims["sub"] == user.user_id and claims["email"] == ADA and claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == issued.expires_in == 900
    record = repo(services).get_refresh_token(tokens.hash_token(issued.refresh_token))
    assert record.status == "active" and record.user_id == user.user_id
    assert record.expires_at == START + services.settings.refresh_token_ttl_seconds
    assert issued.refresh_token not in repr(repo(services).items)


def test_unknown_email_runs_one_dummy_verify_and_answers_like_a_wrong_password(services, mailer):
    verified_account(services, mailer)
    spy = spy_on_hasher(services)
    with pytest.raises(InvalidCredentials) as unknown:
        log_in(services, email=NOBODY)
    assert spy.calls == {"dummy_verify": 1}
    spy.calls.clear()
    with pytest.raises(InvalidCredentials) as wrong:
        log_in(services, password=WRONG)
    assert spy.calls == {"verify": 1}
    assert (unknown.value.status, unknown.value.code, unknown.value.detail) == (
        wrong.value.status,
        wrong.value.code,
        wrong.value.detail,
    )


@pytest.mark.parametrize("address", [ADA, NOBODY])
def test_lockout_after_n_failures_refuses_even_the_right_password_also_for_unknown_addresses(
    services, mailer, address
):
    verified_account(services, mailer)
    clock(services).now = START + 100
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            log_in(services, email=address, password=WRONG)
    spy = spy_on_hasher(services)
    with pytest.raises(RateLimited) as caught:
        log_in(services, email=address)
    assert caught.value.retry_after == 900 - 100  # until the lockout window ends
    assert spy.calls == {}  # refused before any password check, the same for both
    clock(services).now = START + 900
    if address == ADA:
        log_in(services)
    else:
        with pytest.raises(InvalidCredentials):
            log_in(services, email=address)


def test_lockout_counts_failures_per_fixed_window(services, mailer):
    verified_account(services, mailer)
    clock(services).now = START + 899
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    clock(services).now = START + 900
    for _ in range(4):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
    log_in(services)


def test_unverified_account_right_password_is_email_not_verified_wrong_is_invalid_credentials(services):
    register(services)
    with pytest.raises(EmailNotVerified):
        log_in(services)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=WRONG)
    for _ in range(5):  # not a failure: the right password never locks the address
        with pytest.raises(EmailNotVerified):
            log_in(services)
    assert repo(services).keys("REFRESH#") == []


def test_login_per_ip_limit_refuses_before_any_password_check():
    services = make_services(rate_limit_login_per_ip="2/60")
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            log_in(services, email=NOBODY)
    spy = spy_on_hasher(services)
    with pytest.raises(RateLimited) as caught:
        log_in(services, email=NOBODY)
    assert caught.value.retry_after == 60 and spy.calls == {}


def test_login_upgrades_the_hash_when_the_argon2_parameters_change(services, mailer):
    verified_account(services, mailer)
    assert "m=1024" in stored_user(services).password_hash
    services.hasher = PasswordHasher(2048, 1, 1)
    log_in(services)
    upgraded = stored_user(services).password_hash
    assert "m=2048" in upgraded and not services.hasher.needs_rehash(upgraded)
    log_in(services)


# --- refresh and logout --------------------------------------------------------------------------


def test_refresh_rotates_the_token(services, mailer):
    verified_account(services, mailer)
    first = log_in(services)
    second = rotate(services, first.refresh_token)
    assert second.refresh_token != first.refresh_token and second.access_token
    assert repo(services).get_refresh_token(tokens.hash_token(first.refresh_token)).status == "rotated"
    rotate(services, second.refresh_token)


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family_only(services, mailer):
    verified_account(services, mailer)
    other_session = log_in(services)
    first = log_in(services)
    second = rotate(services, first.refresh_token)
    with pytest.raises(InvalidGrant):
        rotate(services, first.refresh_token)  # reuse
    with pytest.raises(InvalidGrant):
        rotate(services, second.refresh_token)  # the thief's (or the owner's) successor is dead too
    record = repo(services).get_refresh_token(tokens.hash_token(first.refresh_token))
    assert repo(services).raw(RevokedFamily.key(record.family_id)) is not None
    rotate(services, other_session.refresh_token)  # other sessions are untouched


def test_the_loser_of_a_concurrent_refresh_is_treated_as_reuse(services, mailer):
    verified_account(services, mailer)
    first = log_in(services)
    stale = repo(services).get_refresh_token(tokens.hash_token(first.refresh_token))
    winner = rotate(services, first.refresh_token)
    repo(services).get_refresh_token = lambda token_hash: stale  # type: ignore[method-assign]
    with pytest.raises(InvalidGrant):
        rotate(services, first.refresh_token)
    del repo(services).get_refresh_token
    with pytest.raises(InvalidGrant):
        rotate(services, winner.refresh_token)


@pytest.mark.parametrize(("offset", "expired"), [(-1, False), (0, True)])
def test_refresh_token_expires_exactly_at_its_expiry(services, mailer, offset, expired):
    verified_account(services, mailer)
    issued = log_in(services)
    clock(services).now = START + services.settings.refresh_token_ttl_seconds + offset
    if expired:
        with pytest.raises(InvalidGrant):
            rotate(services, issued.refresh_token)
    else:
        rotate(services, issued.refresh_token)


@pytest.mark.parametrize("token", ["", "short", "x" * 200, tokens.new_token()])
def test_unknown_or_malformed_refresh_token_is_an_invalid_grant(services, token):
    with pytest.raises(InvalidGrant):
        rotate(services, token)
    assert repo(services).keys("FAMILY#") == []


@pytest.mark.parametrize("token", ["short", tokens.new_token()])
def test_logout_of_an_unknown_token_is_a_no_op(services, token):
    sessions.logout(services, refresh_token=token)
    assert repo(services).items == {}


def test_logout_revokes_the_family(services, mailer):
    verified_account(services, mailer)
    first = log_in(services)
    second = rotate(services, first.refresh_token)
    sessions.logout(services, refresh_token=second.refresh_token)
    with pytest.raises(InvalidGrant):
        rotate(services, second.refresh_token)
    sessions.logout(services, refresh_token=second.refresh_token)  # again: still fine


def test_profile_returns_the_account_of_the_claims_and_refuses_mismatches(services, mailer):
    user = verified_account(services, mailer)
    profile = sessions.profile(services, claims={"sub": user.user_id, "email": ADA})
    assert profile == {
        "user_id": user.user_id,
        "email": ADA,
        "email_verified": True,
        "name": "Ada",
        "created_at": "2025-11-21T15:00:00Z",
    }
    for claims in ({"sub": "someone-else", "email": ADA}, {"sub": user.user_id}, {"sub": user.user_id, "email": "x"}):
        with pytest.raises(Unauthorized):
            sessions.profile(services, claims=claims)


# --- rate limits ---------------------------------------------------------------------------------


def test_fixed_window_allows_n_hits_then_refuses_with_the_seconds_to_the_window_end():
    limiter, limit = RateLimiter(InMemoryRepository()), RateLimit(3, 60)
    states = [limiter.hit("token_ip", IP, limit, now=START + 10) for _ in range(3)]
    assert [(s.limit, s.remaining, s.reset) for s in states] == [(3, 2, 50), (3, 1, 50), (3, 0, 50)]
    with pytest.raises(RateLimited) as caught:
        limiter.hit("token_ip", IP, limit, now=START + 10)
    assert caught.value.retry_after == 50
    assert caught.value.headers == {"RateLimit-Limit": "3", "RateLimit-Remaining": "0", "RateLimit-Reset": "50"}
    with pytest.raises(RateLimited) as caught:
        limiter.hit("token_ip", IP, limit, now=START + 59)  # the window's last second
    assert caught.value.retry_after == 1
    state = limiter.hit("token_ip", IP, limit, now=START + 60)  # a new window starts afresh
    assert (state.remaining, state.reset) == (2, 60)
    assert limiter.hit("token_ip", "203.0.113.9", limit, now=START + 10).remaining == 2  # per subject


def test_counters_expire_with_their_window():
    store = InMemoryRepository()
    RateLimiter(store).hit("login_ip", IP, RateLimit(5, 60), now=START + 10)
    [item] = store.items.values()
    assert item["ttl"] == item["cleanup_at"] == START + 60
    assert IP not in item["pk"]  # subjects are hashed into the key


def test_a_zero_count_disables_a_limit():
    store = InMemoryRepository()
    limit = RateLimit.parse("0/60")
    assert not limit.enabled
    limiter = RateLimiter(store)
    assert all(limiter.hit("x", IP, limit, now=START) is None for _ in range(100))
    assert all(limiter.allow("x", IP, limit, now=START) for _ in range(100))
    lockout = Lockout(store, limit)
    assert lockout.key(ADA, now=START) is None
    lockout.check(10**6, now=START)
    lockout.record_failure(ADA, now=START)
    assert store.items == {}


def test_disabled_limits_let_every_flow_through(mailer):
    services = make_services(
        rate_limit_register_per_ip="0/60",
        rate_limit_email_per_address="0/60",
        rate_limit_mail_per_ip="0/60",
        rate_limit_login_per_ip="0/60",
        login_lockout="0/60",
        rate_limit_token_per_ip="0/60",
    )
    verified_account(services, mailer)
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            log_in(services, password=WRONG)
        verification.resend(services, email=parse_address(NOBODY), ip=IP)
    log_in(services)
    assert repo(services).keys("RATE#") == []


# --- cleanup -------------------------------------------------------------------------------------


def run_cleanup(services: Services) -> dict[str, int]:
    return cleanup.run_cleanup(services)


NOTHING = {"UnverifiedAccounts": 0, "EmailTokens": 0, "RefreshTokens": 0, "RevokedFamilies": 0, "Counters": 0}


def test_unverified_account_is_deleted_with_its_tokens_only_after_the_configured_days(services, mailer):
    register(services)
    deliver(services, mailer)
    reset_link(services, mailer)
    ttl = 7 * DAY
    clock(services).now = START + ttl - 1
    assert run_cleanup(services)["UnverifiedAccounts"] == 0
    assert repo(services).get_user(ADA) is not None
    clock(services).now = START + ttl
    assert run_cleanup(services)["UnverifiedAccounts"] == 1
    assert repo(services).get_user(ADA) is None and repo(services).keys("TOKEN#") == []


def test_zero_days_deletes_unverified_accounts_at_the_next_run(mailer):
    services = make_services(unverified_account_ttl_days=0)
    register(services)
    assert run_cleanup(services)["UnverifiedAccounts"] == 1
    assert repo(services).get_user(ADA) is None


def test_reregistering_restarts_the_unverified_account_clock(services):
    register(services)
    clock(services).now = START + 6 * DAY
    register(services, password=NEW_PASSWORD)
    clock(services).now = START + 7 * DAY
    assert run_cleanup(services)["UnverifiedAccounts"] == 0
    clock(services).now = START + 13 * DAY
    assert run_cleanup(services)["UnverifiedAccounts"] == 1


def test_cleanup_deletes_expired_tokens_sessions_and_counters_keeps_verified_users_and_is_idempotent(
    services, mailer
):
    verified_account(services, mailer)
    reset_link(services, mailer)  # a reset token (1 h)
    log_in(services)  # a session (7 days)
    logged_out = log_in(services)
    sessions.logout(services, refresh_token=logged_out.refresh_token)  # a revoked-family marker
    with pytest.raises(InvalidCredentials):
        log_in(services, email=NOBODY)  # a lockout counter
    services.queue.take()
    before = {prefix: len(repo(services).keys(prefix)) for prefix in ("TOKEN#", "REFRESH#", "FAMILY#", "RATE#")}
    assert all(before.values())

    clock(services).now = START + 3600 - 1  # only the counters of short windows (60 s, 900 s) have expired
    partial = run_cleanup(services)
    assert partial["EmailTokens"] == partial["RefreshTokens"] == partial["RevokedFamilies"] == 0
    assert 0 < partial["Counters"] < before["RATE#"]

    clock(services).now = START + 8 * DAY
    deleted = run_cleanup(services)
    assert deleted == {
        "UnverifiedAccounts": 0,
        "EmailTokens": before["TOKEN#"],
        "RefreshTokens": before["REFRESH#"],
        "RevokedFamilies": before["FAMILY#"],
        "Counters": before["RATE#"] - partial["Counters"],
    }
    assert repo(services).keys() == [User.key(ADA)]  # the verified user stays
    assert run_cleanup(services) == NOTHING

    clock(services).now = START + 365 * DAY
    assert run_cleanup(services) == NOTHING and repo(services).get_user(ADA) is not None


def test_an_item_is_deleted_only_once_its_expiry_is_reached(services, mailer):
    verified_account(services, mailer)
    token = reset_link(services, mailer)
    pk = EmailToken.key("reset", tokens.hash_token(token))
    clock(services).now = START + 3600 - 1
    run_cleanup(services)
    assert repo(services).raw(pk) is not None
    clock(services).now = START + 3600
    run_cleanup(services)
    assert repo(services).raw(pk) is None


def test_cleanup_spares_an_account_verified_after_it_was_found(services, mailer):
    register(services)
    deliver(services, mailer)
    clock(services).now = START + 8 * DAY
    [entry] = repo(services).due_for_cleanup("UNVERIFIED", START + DAY)
    stored = repo(services).raw(User.key(ADA))
    repo(services).items[User.key(ADA)] = {**stored, "verified": True}  # verified meanwhile (say, by reset)
    assert repo(services).delete_unverified_user(entry, START + DAY) == 0
    assert repo(services).get_user(ADA) is not None


def test_concurrent_registrations_create_one_account_and_concurrent_verifications_one_welcome(mailer):
    import threading

    services = make_services(rate_limit_email_per_address="0/3600")

    def together(action, n: int = 8) -> list[BaseException]:
        barrier, failures = threading.Barrier(n), []

        def run() -> None:
            barrier.wait()
            try:
                action()
            except BaseException as error:  # noqa: BLE001
                failures.append(error)

        threads = [threading.Thread(target=run) for _ in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return failures

    assert together(lambda: register(services)) == []
    assert repo(services).keys("USER#") == [User.key(ADA)] and len(services.queue.jobs) == 8
    outcomes = deliver(services, mailer)  # only the job of the registration that wrote last is current
    assert sorted(outcomes) == ["sent_verification"] + ["stale"] * 7
    assert together(lambda: verify(services, token_in(mailer))) == []
    assert services.queue.jobs == [EmailJob(kind=JobKind.WELCOME, email=ADA)]


# --- the fake itself -----------------------------------------------------------------------------


def test_fake_repository_returns_copies_not_its_stored_items(services):
    register(services)
    user = stored_user(services)
    user.name = "changed"
    assert stored_user(services).name == "Ada"


def test_fake_repository_returns_pynamodb_models(services, mailer):
    verified_account(services, mailer)
    issued = log_in(services)
    assert isinstance(stored_user(services), User)
    assert isinstance(repo(services).get_refresh_token(tokens.hash_token(issued.refresh_token)), RefreshToken)
