"""Account self-service flows (accounts.flows.account) on moto: profile, password change, sessions,
security events and deletion."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pynamodb.transactions import TransactWrite

from accounts.email_jobs import JobKind
from accounts.emails import parse_address
from accounts.errors import (
    InvalidCredentials,
    InvalidGrant,
    MfaRequired,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    WeakPassword,
)
from accounts.flows import account as flow
from accounts.flows import email_change, login, mfa, sessions
from accounts.repository import new_event
from accounts.tables import profile as profile_table
from tests.fakes import FakeMailer
from tests.unit.flow_helpers import (
    ADA,
    CLIENT,
    DAY,
    KEYS,
    NEW_PASSWORD,
    PASSWORD,
    WRONG,
    authenticate,
    claims_of,
    event_types,
    find_account,
    find_user,
    log_in,
    register,
    rotate,
    sessions_of,
    table_items,
    token_in,
    verified_account,
)
from tests.unit.flow_helpers import clock as clock_of

OTHER_CLIENT = sessions.Client(ip="203.0.113.9", user_agent="Other browser")


@pytest.fixture
def ada(services, mailer: FakeMailer) -> str:
    return verified_account(services, mailer).user_id


def claims(services, issued) -> dict[str, Any]:
    return claims_of(services, issued)


# --- profile --------------------------------------------------------------------------------------


def test_name_changes_on_account_and_user_and_the_profile_is_answered(services, ada: str) -> None:
    issued = log_in(services)
    answer = flow.update_name(services, claims(services, issued), name="Ada King")
    assert answer["name"] == "Ada King" and answer["email"] == ADA and answer["user_id"] == ada
    assert find_account(services).name == "Ada King"
    assert find_user(ada).name == "Ada King"


# --- password -------------------------------------------------------------------------------------


def test_password_change_ends_every_other_session_and_keeps_the_callers(services, ada: str) -> None:
    mine, other = log_in(services), log_in(services, client=OTHER_CLIENT)
    flow.change_password(services, claims(services, mine), current_password=PASSWORD,
                         new_password=NEW_PASSWORD, client=CLIENT)
    authenticate(services, mine)  # still works
    rotate(services, mine.refresh_token)  # and refreshes
    with pytest.raises(Unauthorized):
        authenticate(services, other)
    with pytest.raises(InvalidGrant):
        rotate(services, other.refresh_token)
    log_in(services, password=NEW_PASSWORD)
    with pytest.raises(InvalidCredentials):
        log_in(services, password=PASSWORD)
    assert "password_changed" in event_types(ada)
    assert [job.kind for job in services.queue.take()] == [JobKind.PASSWORD_CHANGED]


def test_wrong_current_password_is_401_and_counts_toward_the_lockout(services, ada: str) -> None:
    issued = log_in(services)
    for _ in range(services.settings.login_lockout.count):
        with pytest.raises(InvalidCredentials):
            flow.change_password(services, claims(services, issued), current_password=WRONG,
                                 new_password=NEW_PASSWORD, client=CLIENT)
    # The address is locked now, for this route and for login, even with the right password.
    with pytest.raises(RateLimited):
        flow.change_password(services, claims(services, issued), current_password=PASSWORD,
                             new_password=NEW_PASSWORD, client=CLIENT)
    with pytest.raises(RateLimited):
        log_in(services)
    assert "locked_out" in event_types(ada)


def test_a_right_password_gives_its_lockout_reservation_back(services, ada: str) -> None:
    issued = log_in(services)
    for _ in range(services.settings.login_lockout.count + 2):
        flow.update_name(services, claims(services, issued), name="Ada")
        with pytest.raises(WeakPassword):
            flow.change_password(services, claims(services, issued), current_password=PASSWORD,
                                 new_password="short", client=CLIENT)
    log_in(services)  # not locked


def test_weak_new_password_changes_nothing(services, ada: str) -> None:
    issued, other = log_in(services), log_in(services, client=OTHER_CLIENT)
    with pytest.raises(WeakPassword):
        flow.change_password(services, claims(services, issued), current_password=PASSWORD,
                             new_password="password", client=CLIENT)
    authenticate(services, other)
    log_in(services)


def test_parallel_password_changes_one_wins(services, ada: str) -> None:
    issued = log_in(services)
    outcomes: list[Any] = []

    def change(new: str) -> None:
        try:
            flow.change_password(services, claims(services, issued), current_password=PASSWORD, new_password=new,
                                 client=CLIENT)
            outcomes.append(new)
        except InvalidCredentials as error:
            outcomes.append(error)

    threads = [threading.Thread(target=change, args=(f"Xyzzy-Quux-204{i}!",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert len(winners) == 1
    log_in(services, password=winners[0])
    authenticate(services, issued)


# --- sessions -------------------------------------------------------------------------------------


def test_sessions_are_listed_with_the_current_one_marked(services, ada: str) -> None:
    first = log_in(services)
    services.now.advance(60)
    second = log_in(services, client=OTHER_CLIENT)
    listed = flow.list_sessions(services, claims(services, first))["sessions"]
    assert [s["session_id"] for s in listed] == [claims(services, second)["sid"], claims(services, first)["sid"]]
    assert [s["current"] for s in listed] == [False, True]
    assert listed[0]["ip"] == OTHER_CLIENT.ip and listed[0]["user_agent"] == OTHER_CLIENT.user_agent
    assert listed[1]["created_at"].endswith("Z")


def test_sessions_leave_out_expired_and_revoked_ones_and_cost_one_call(services, ada: str) -> None:
    first = log_in(services)
    old = log_in(services)
    flow.revoke_session(services, claims(services, first), claims(services, old)["sid"], client=CLIENT)
    calls: list[str] = []
    services.repo._client().meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    listed = flow.list_sessions(services, claims(services, first))["sessions"]
    assert calls == ["Query"]
    assert [s["session_id"] for s in listed] == [claims(services, first)["sid"]]


def test_sessions_refuse_a_revoked_caller(services, ada: str) -> None:
    issued = log_in(services)
    sessions.logout(services, KEYS,
                    refresh_token=issued.refresh_token)
    with pytest.raises(Unauthorized):
        flow.list_sessions(services, claims(services, issued))


def test_revoking_a_session_ends_it_and_records_session_revoked(services, ada: str) -> None:
    mine, other = log_in(services), log_in(services, client=OTHER_CLIENT)
    flow.revoke_session(services, claims(services, mine), claims(services, other)["sid"], client=CLIENT)
    with pytest.raises(Unauthorized):
        authenticate(services, other)
    with pytest.raises(InvalidGrant):
        rotate(services, other.refresh_token)
    authenticate(services, mine)
    assert event_types(ada).count("session_revoked") == 1


def test_revoking_the_current_session_is_a_logout(services, ada: str) -> None:
    mine = log_in(services)
    flow.revoke_session(services, claims(services, mine), claims(services, mine)["sid"], client=CLIENT)
    with pytest.raises(Unauthorized):
        authenticate(services, mine)
    assert "session_revoked" not in event_types(ada)


@pytest.mark.parametrize("session_id", ["0" * 32, "not-an-id", ""])
def test_revoking_an_unknown_session_does_nothing(services, ada: str, session_id: str) -> None:
    mine = log_in(services)
    before = table_items()
    flow.revoke_session(services, claims(services, mine), session_id, client=CLIENT)
    assert table_items() == before


def test_revoking_another_users_session_does_nothing(services, mailer: FakeMailer, ada: str) -> None:
    verified_account(services, mailer, "grace@example.com")
    mine, hers = log_in(services), log_in(services, "grace@example.com")
    before = table_items()
    flow.revoke_session(services, claims(services, mine), claims(services, hers)["sid"], client=CLIENT)
    assert table_items() == before
    authenticate(services, hers)


# --- security events ------------------------------------------------------------------------------


def test_events_come_newest_first_in_pages_with_an_opaque_cursor(services, ada: str) -> None:
    issued = log_in(services)
    for second in range(5):
        services.now.advance(1)
        services.repo.record_event(new_event(ada, f"t{second}", now=services.now()))
    page = flow.list_events(services, claims(services, issued), limit=2)
    assert [event["type"] for event in page["events"]] == ["t4", "t3"]
    assert page["next"] and "EVENT" not in page["next"]
    page = flow.list_events(services, claims(services, issued), cursor=page["next"], limit=2)
    assert [event["type"] for event in page["events"]] == ["t2", "t1"]
    page = flow.list_events(services, claims(services, issued), cursor=page["next"], limit=3)
    assert [event["type"] for event in page["events"]] == ["t0", "login"]
    assert page["next"] is None
    assert page["events"][1]["ip"] == CLIENT.ip and page["events"][1]["at"].endswith("Z")


def test_events_older_than_90_days_are_left_out(services, ada: str) -> None:
    log_in(services)
    services.now.advance(91 * DAY)
    services.repo.record_event(new_event(ada, "password_changed", now=services.now()))
    # An access token from now on (a fresh login) reads only the new events.
    issued = log_in(services)
    assert [e["type"] for e in flow.list_events(services, claims(services, issued))["events"]] == [
        "login", "password_changed"]


@pytest.mark.parametrize("cursor", ["nonsense", "RVZFTlQj", "%%%"])
def test_a_cursor_the_api_did_not_hand_out_is_422(services, ada: str, cursor: str) -> None:
    issued = log_in(services)
    with pytest.raises(ValidationFailed):
        flow.list_events(services, claims(services, issued), cursor=cursor)


# --- deletion -------------------------------------------------------------------------------------


def test_deletion_removes_everything_and_the_address_registers_again(services, mailer: FakeMailer, ada: str) -> None:
    issued, other = log_in(services), log_in(services, client=OTHER_CLIENT)
    flow.delete_account(services, claims(services, issued), password=PASSWORD, client=CLIENT)
    assert [item for item in table_items() if not item["pk"]["S"].startswith("RATE#")] == []
    assert sessions_of(ada) == []
    with pytest.raises(Unauthorized):
        authenticate(services, issued)
    with pytest.raises(InvalidGrant):
        rotate(services, other.refresh_token)
    with pytest.raises(InvalidCredentials):
        log_in(services)
    assert [job.kind for job in services.queue.take()] == [JobKind.ACCOUNT_DELETED]
    result = register(services)
    assert result is not None
    assert find_account(services) is not None and not find_account(services).verified


def test_deletion_needs_the_password(services, ada: str) -> None:
    issued = log_in(services)
    with pytest.raises(InvalidCredentials):
        flow.delete_account(services, claims(services, issued), password=WRONG, client=CLIENT)
    assert find_user(ada) is not None
    authenticate(services, issued)


def test_a_refresh_racing_the_deletion_fails(services, ada: str) -> None:
    issued = log_in(services)
    other = log_in(services, client=OTHER_CLIENT)
    results: list[Any] = []

    def refresh() -> None:
        try:
            results.append(rotate(services, other.refresh_token))
        except InvalidGrant as error:
            results.append(error)

    thread = threading.Thread(target=refresh)
    thread.start()
    flow.delete_account(services, claims(services, issued), password=PASSWORD, client=CLIENT)
    thread.join()
    # Whichever came first, nothing of the session is left and no token of it works.
    assert sessions_of(ada) == []
    for outcome in results:
        if not isinstance(outcome, InvalidGrant):
            with pytest.raises(InvalidGrant):
                rotate(services, outcome.refresh_token)
            with pytest.raises(Unauthorized):
                authenticate(services, outcome)


def test_account_deleted_notice_is_sent_to_the_address(services, mailer: FakeMailer, ada: str) -> None:
    issued = log_in(services)
    flow.delete_account(services, claims(services, issued), password=PASSWORD, client=CLIENT)
    (job,) = services.queue.take()
    assert flow.deliver_account_deleted(services, mailer, job, first_attempt=True) == "sent_account_deleted"
    ((to, email),) = mailer.sent
    assert to == ADA and "deleted" in email.subject


def test_deletion_removes_the_second_factor_and_recovery_codes(services, ada: str) -> None:
    issued = log_in(services)
    secret = mfa.enrol(services, claims(services, issued))["secret"]
    codes = mfa.confirm(services, claims(services, issued), code=mfa.code_at(secret, services.now()), client=CLIENT)
    assert len(codes) == 10
    assert any(item["sk"]["S"].startswith("MFA#") for item in table_items())
    flow.delete_account(services, claims(services, issued), password=PASSWORD, client=CLIENT)
    assert [item for item in table_items() if not item["pk"]["S"].startswith("RATE#")] == []


def test_a_deletion_cut_short_before_its_transaction_leaves_an_account_that_works(
        services, ada: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambda can stop anywhere (timeout, crash). Cut short after the first sweep, the account
    must keep its second factor and recovery codes (the user can still log in, with the factor,
    and delete it again), rather than a User that asks for a factor which is gone."""
    issued = log_in(services)
    secret = mfa.enrol(services, claims(services, issued))["secret"]
    mfa.confirm(services, claims(services, issued), code=mfa.code_at(secret, services.now()), client=CLIENT)

    class CutShort(TransactWrite):
        def __enter__(self) -> Any:
            raise TimeoutError("the Lambda timed out")

    with monkeypatch.context() as patched, pytest.raises(TimeoutError):
        patched.setattr(profile_table, "TransactWrite", CutShort)
        flow.delete_account(services, claims(services, issued), password=PASSWORD, client=CLIENT)
    with pytest.raises(MfaRequired) as required:
        log_in(services)
    clock_of(services).advance(30)  # the confirmation used this step's code
    again, _ = login.complete_mfa(services, KEYS, mfa_token=required.value.extra["mfa_token"],
                                  code=mfa.code_at(secret, services.now()), recovery_code=None, client=CLIENT)
    flow.delete_account(services, claims(services, again), password=PASSWORD, client=CLIENT)
    assert [item for item in table_items() if not item["pk"]["S"].startswith("RATE#")] == []


def test_email_change_keeps_the_second_factor(services, mailer: FakeMailer, ada: str) -> None:
    issued = log_in(services)
    secret = mfa.enrol(services, claims(services, issued))["secret"]
    mfa.confirm(services, claims(services, issued), code=mfa.code_at(secret, services.now()), client=CLIENT)
    email_change.request_change(services, claims(services, issued), new_email=parse_address("ada@example.org"),
                                password=PASSWORD, client=CLIENT)
    (job,) = [job for job in services.queue.take() if job.kind is JobKind.EMAIL_CHANGE]
    assert email_change.deliver_email_change(services, mailer, job, first_attempt=True) == "sent_email_change"
    email_change.confirm_change(services, token=token_in(mailer), ip=CLIENT.ip)
    moved = find_account(services, "ada@example.org")
    assert moved.mfa_enabled and find_user(ada).mfa_enabled
