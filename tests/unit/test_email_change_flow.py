"""Email change (accounts.flows.email_change) on moto: the request, the worker's link or notice, the
confirmation transaction and its races."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from accounts.email_jobs import EmailJob, JobKind
from accounts.emails import parse_address
from accounts.errors import InvalidCredentials, InvalidToken, TokenExpired, Unauthorized, ValidationFailed
from accounts.flows import email_change as flow
from accounts.models import Account
from tests.fakes import FakeMailer
from tests.unit.flow_helpers import (
    ADA,
    CLIENT,
    IP,
    PASSWORD,
    USER_AGENT,
    WRONG,
    authenticate,
    claims_of,
    event_types,
    find_account,
    find_user,
    log_in,
    token_in,
    verified_account,
)

NEW = "Ada.Lovelace@Example.org"
NEW_KEY = parse_address(NEW).key
NEW_DISPLAY = parse_address(NEW).display
DELIVER = {
    JobKind.EMAIL_CHANGE: flow.deliver_email_change,
    JobKind.EMAIL_CHANGED: flow.deliver_email_changed,
}


@pytest.fixture
def ada(services, mailer: FakeMailer) -> str:
    return verified_account(services, mailer).user_id


def deliver(services, mailer: FakeMailer) -> list[str]:
    return [DELIVER[job.kind](services, mailer, job, first_attempt=True) for job in services.queue.take()]


def request(services, issued, new: str = NEW, password: str = PASSWORD) -> None:
    flow.request_change(services, claims_of(services, issued), new_email=parse_address(new), password=password,
                        client=CLIENT)


def link(services, mailer: FakeMailer, issued, new: str = NEW) -> str:
    request(services, issued, new)
    assert deliver(services, mailer) == ["sent_email_change"]
    return token_in(mailer)


def confirm(services, token: str) -> dict[str, Any]:
    answer, _state = flow.confirm_change(services, token=token, ip=IP, user_agent=USER_AGENT)
    return answer


def test_the_link_goes_to_the_new_address_and_confirming_moves_the_account(
        services, mailer: FakeMailer, ada: str) -> None:
    issued = log_in(services)
    token = link(services, mailer, issued)
    to, email = mailer.sent[-1]
    assert to == NEW_DISPLAY and "/confirm-email?token=" in email.text and "1 hour" in email.text
    answer = confirm(services, token)
    assert answer["email"] == NEW_DISPLAY and answer["user_id"] == ada
    assert find_account(services) is None
    moved = find_account(services, NEW)
    assert moved.user_id == ada and moved.verified and moved.email == NEW_DISPLAY
    assert find_user(ada).email_key == NEW_KEY
    authenticate(services, issued)  # sessions stay
    log_in(services, NEW)
    with pytest.raises(InvalidCredentials):
        log_in(services, ADA)
    assert "email_changed" in event_types(ada)
    assert deliver(services, mailer) == ["sent_email_changed"]
    assert mailer.sent[-1][0] == ADA and "changed" in mailer.sent[-1][1].subject


def test_the_token_works_once(services, mailer: FakeMailer, ada: str) -> None:
    token = link(services, mailer, log_in(services))
    confirm(services, token)
    with pytest.raises(InvalidToken):
        confirm(services, token)


def test_the_token_expires_after_an_hour(services, mailer: FakeMailer, ada: str) -> None:
    token = link(services, mailer, log_in(services))
    services.now.advance(services.settings.email_change_token_ttl_seconds + 1)
    with pytest.raises(TokenExpired):
        confirm(services, token)
    assert find_account(services).user_id == ada


def test_a_token_of_another_purpose_is_refused(services, mailer: FakeMailer, ada: str) -> None:
    from tests.unit.flow_helpers import reset_link

    with pytest.raises(InvalidToken):
        confirm(services, reset_link(services, mailer))


def test_a_taken_address_gets_the_already_registered_notice_and_the_same_answer(
        services, mailer: FakeMailer, ada: str) -> None:
    verified_account(services, mailer, NEW)
    issued = log_in(services)
    request(services, issued)  # the same None answer
    assert deliver(services, mailer) == ["sent_already_registered"]
    assert mailer.sent[-1][0] == NEW_DISPLAY and "sign up" in mailer.sent[-1][1].subject


def test_the_password_is_needed_and_a_wrong_one_counts(services, ada: str) -> None:
    issued = log_in(services)
    with pytest.raises(InvalidCredentials):
        request(services, issued, password=WRONG)
    assert services.queue.take() == []


def test_the_current_address_is_422(services, ada: str) -> None:
    with pytest.raises(ValidationFailed):
        request(services, log_in(services), new=ADA.upper())


def test_an_address_registered_meanwhile_is_400_and_nothing_moves(services, mailer: FakeMailer, ada: str) -> None:
    token = link(services, mailer, log_in(services))
    verified_account(services, mailer, NEW)
    theirs = find_account(services, NEW)
    with pytest.raises(InvalidToken):
        confirm(services, token)
    assert find_account(services).user_id == ada
    assert find_account(services, NEW).user_id == theirs.user_id
    assert find_user(ada).email_key == parse_address(ADA).key


def test_a_pending_unverified_registration_of_the_address_is_replaced(services, mailer: FakeMailer, ada: str) -> None:
    from tests.unit.flow_helpers import register

    token = link(services, mailer, log_in(services))
    register(services, NEW)  # someone else's pending registration: proving the address wins
    confirm(services, token)
    moved = find_account(services, NEW)
    assert moved.user_id == ada and moved.verified and moved.cleanup_shard is None


def test_two_parallel_confirmations_to_one_address_have_one_winner(services, mailer: FakeMailer, ada: str) -> None:
    grace = verified_account(services, mailer, "grace@example.com").user_id
    tokens = [link(services, mailer, log_in(services)), link(services, mailer, log_in(services, "grace@example.com"))]
    outcomes: list[Any] = []

    def run(token: str) -> None:
        try:
            outcomes.append(confirm(services, token)["user_id"])
        except InvalidToken as error:
            outcomes.append(error)

    threads = [threading.Thread(target=run, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert len(winners) == 1 and len(outcomes) == 2
    assert find_account(services, NEW).user_id == winners[0]
    loser = grace if winners[0] == ada else ada
    assert find_user(loser).email_key != NEW_KEY


def test_a_deleted_user_cannot_confirm(services, mailer: FakeMailer, ada: str) -> None:
    from accounts.flows import account

    issued = log_in(services)
    token = link(services, mailer, issued)
    account.delete_account(services, claims_of(services, issued), password=PASSWORD, client=CLIENT)
    with pytest.raises(InvalidToken):
        confirm(services, token)
    assert find_account(services, NEW) is None


def test_a_revoked_caller_cannot_request(services, ada: str) -> None:
    from accounts.flows import account

    issued = log_in(services)
    account.revoke_session(services, claims_of(services, issued), claims_of(services, issued)["sid"], client=CLIENT)
    with pytest.raises(Unauthorized):
        request(services, issued)


def test_links_to_one_address_are_limited_per_address(services, mailer: FakeMailer, ada: str) -> None:
    issued = log_in(services)
    limit = services.settings.rate_limit_email_per_address.count
    for _ in range(limit + 1):
        request(services, issued)
    outcomes = deliver(services, mailer)
    assert outcomes.count("sent_email_change") == limit and outcomes[-1] == "email_limited"


def test_the_job_never_carries_a_token(services, ada: str) -> None:
    request(services, log_in(services))
    (job,) = services.queue.take()
    assert set(job.to_dict()) == {"kind", "email", "registration_id", "user_id"}
    assert EmailJob.parse(job.to_json()) == job


def test_the_move_keeps_roles_flags_and_the_password(services, mailer: FakeMailer, ada: str) -> None:
    from tests.unit.flow_helpers import set_on_both

    set_on_both(ada, roles={"admin"})
    token = link(services, mailer, log_in(services))
    confirm(services, token)
    moved: Account = find_account(services, NEW)
    assert moved.roles == {"admin"} and not moved.disabled
    log_in(services, NEW, PASSWORD)


def test_the_token_still_works_just_before_it_expires(services, mailer: FakeMailer, ada: str) -> None:
    token = link(services, mailer, log_in(services))
    services.now.advance(services.settings.email_change_token_ttl_seconds - 1)
    confirm(services, token)
