"""Sessions (accounts.flows.sessions): refresh-token rotation with the reuse grace, logout and
`authenticate`, on the real repository and moto. Login and its lockout are in test_login_flow.py."""

from __future__ import annotations

import pytest

from accounts import tokens
from accounts.errors import InvalidGrant, Unauthorized
from accounts.flows import sessions
from accounts.models import User
from tests.conftest import in_parallel
from tests.fakes import START, make_services
from tests.unit.flow_helpers import (
    IP,
    KEYS,
    USER_AGENT,
    authenticate,
    claims_of,
    clock,
    event_types,
    events,
    log_in,
    record_repository_calls,
    rotate,
    sessions_of,
    table_items,
    verified_account,
)

pytestmark = pytest.mark.usefixtures("table")


def generation_of(refresh_token: str) -> int:
    return tokens.read_refresh_token(KEYS.refresh_token_secret, refresh_token).generation


# --- refresh -------------------------------------------------------------------------------------


def test_refresh_moves_the_session_to_its_next_generation(services, mailer):
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    clock(services).advance(100)
    second = rotate(services, first.refresh_token, sessions.Client(ip="203.0.113.9", user_agent="Other"))
    assert tokens.read_refresh_token(KEYS.refresh_token_secret, second.refresh_token).generation == 1
    [session] = sessions_of(user_id)
    assert (session.generation, session.rotated_at, session.last_used_at, session.created_at) == (
        1, START + 100, START + 100, START)
    assert (session.ip, session.user_agent) == ("203.0.113.9", "Other")
    assert session.expires_at == START + 100 + services.settings.refresh_token_ttl_seconds  # sliding
    assert claims_of(services, second)["sid"] == session.session_id
    rotate(services, second.refresh_token)


def test_refresh_is_not_limited_per_ip(mailer):
    services = make_services(rate_limit_token_per_ip="1/60")
    verified_account(services, mailer)
    issued = log_in(services)
    for _ in range(3):
        issued = rotate(services, issued.refresh_token)


@pytest.mark.parametrize(("offset", "expired"), [(-1, False), (0, True)])
def test_refresh_token_expires_exactly_at_the_sessions_expiry(services, mailer, offset, expired):
    verified_account(services, mailer)
    issued = log_in(services)
    clock(services).now = START + services.settings.refresh_token_ttl_seconds + offset
    if expired:
        with pytest.raises(InvalidGrant):
            rotate(services, issued.refresh_token)
    else:
        rotate(services, issued.refresh_token)


def test_forged_or_malformed_refresh_tokens_are_invalid_grants_and_revoke_nothing(services, mailer):
    user_id = verified_account(services, mailer).user_id
    issued = log_in(services)
    [session] = sessions_of(user_id)
    claims = tokens.RefreshClaims(user_id=user_id, session_id=session.session_id, generation=0)
    forged = tokens.refresh_token(b"not the server secret" * 2, claims)
    for token in ("", "short", "x" * 200, tokens.new_token(), forged, issued.refresh_token + "A"):
        with pytest.raises(InvalidGrant):
            rotate(services, token)
        sessions.logout(services, KEYS, refresh_token=token)
    assert len(sessions_of(user_id)) == 1 and "refresh_reuse_detected" not in event_types(user_id)
    rotate(services, issued.refresh_token)


# --- the reuse grace -----------------------------------------------------------------------------


def test_a_rotated_token_presented_again_within_the_grace_gets_the_same_refresh_token(services, mailer):
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    second = rotate(services, first.refresh_token)
    clock(services).advance(services.settings.refresh_reuse_grace_seconds - 1)
    again = rotate(services, first.refresh_token)  # a second tab, or a retried request
    assert again.refresh_token == second.refresh_token and generation_of(again.refresh_token) == 1
    [session] = sessions_of(user_id)
    assert session.generation == 1 and session.rotated_at == START  # answered without a write
    assert claims_of(services, again)["sid"] == session.session_id
    authenticate(services, again)
    assert generation_of(rotate(services, second.refresh_token).refresh_token) == 2  # the pair still works
    assert "refresh_reuse_detected" not in event_types(user_id)


def test_after_the_grace_a_rotated_token_revokes_the_session_and_records_reuse(services, mailer):
    user_id = verified_account(services, mailer).user_id
    other = log_in(services)
    first = log_in(services)
    second = rotate(services, first.refresh_token)
    clock(services).advance(services.settings.refresh_reuse_grace_seconds)
    with pytest.raises(InvalidGrant):
        rotate(services, first.refresh_token)
    with pytest.raises(InvalidGrant):
        rotate(services, second.refresh_token)  # the thief's (or the owner's) successor is dead too
    with pytest.raises(Unauthorized):
        authenticate(services, second)
    reuse = [event for event in events(user_id) if event.type == "refresh_reuse_detected"]
    assert [(event.at, event.ip, event.user_agent) for event in reuse] == [
        (START + services.settings.refresh_reuse_grace_seconds, IP, USER_AGENT)]
    assert len(sessions_of(user_id)) == 1
    rotate(services, other.refresh_token)  # other sessions are untouched


def test_the_grace_counts_from_the_rotation_not_from_the_login(services, mailer):
    verified_account(services, mailer)
    first = log_in(services)
    clock(services).advance(3600)
    second = rotate(services, first.refresh_token)
    clock(services).advance(5)
    assert rotate(services, first.refresh_token).refresh_token == second.refresh_token


def test_a_token_older_than_the_previous_generation_revokes_even_within_the_grace(services, mailer):
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    second = rotate(services, first.refresh_token)
    third = rotate(services, second.refresh_token)
    with pytest.raises(InvalidGrant):
        rotate(services, first.refresh_token)
    assert sessions_of(user_id) == [] and "refresh_reuse_detected" in event_types(user_id)
    with pytest.raises(InvalidGrant):
        rotate(services, third.refresh_token)


def test_a_grace_of_zero_turns_it_off_any_reuse_revokes_at_once(mailer):
    services = make_services(refresh_reuse_grace_seconds=0)
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    second = rotate(services, first.refresh_token)
    with pytest.raises(InvalidGrant):
        rotate(services, first.refresh_token)  # same second as the rotation
    with pytest.raises(InvalidGrant):
        rotate(services, second.refresh_token)
    assert sessions_of(user_id) == [] and "refresh_reuse_detected" in event_types(user_id)


def stale_reads(services, issued: sessions.IssuedTokens) -> None:
    """The next refreshes read the session as it was before `issued` was first rotated (lost races)."""
    claims = tokens.read_refresh_token(KEYS.refresh_token_secret, issued.refresh_token)
    before = services.repo.get_user_and_session(claims.user_id, claims.session_id)
    services.repo.get_user_and_session = lambda user_id, session_id: before


def test_the_loser_of_a_concurrent_refresh_gets_the_winners_token_within_the_grace(services, mailer):
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    stale_reads(services, first)
    winner = rotate(services, first.refresh_token)
    loser = rotate(services, first.refresh_token)  # its conditional write fails: TokenAlreadyUsed
    assert loser.refresh_token == winner.refresh_token
    assert sessions_of(user_id)[0].generation == 1 and "refresh_reuse_detected" not in event_types(user_id)


def test_without_grace_the_loser_of_a_concurrent_refresh_is_treated_as_reuse(mailer):
    services = make_services(refresh_reuse_grace_seconds=0)
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    stale_reads(services, first)
    rotate(services, first.refresh_token)
    with pytest.raises(InvalidGrant):
        rotate(services, first.refresh_token)
    assert sessions_of(user_id) == [] and "refresh_reuse_detected" in event_types(user_id)


def test_parallel_refreshes_of_one_token_converge_on_one_refresh_token(services, mailer):
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    outcomes = in_parallel(8, lambda: rotate(services, first.refresh_token))
    assert {type(outcome) for outcome in outcomes} == {sessions.IssuedTokens}
    assert len({outcome.refresh_token for outcome in outcomes}) == 1
    assert sessions_of(user_id)[0].generation == 1


def test_without_grace_parallel_refreshes_of_one_token_revoke_the_session(mailer):
    services = make_services(refresh_reuse_grace_seconds=0)
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    outcomes = in_parallel(8, lambda: rotate(services, first.refresh_token))
    [winner] = [outcome for outcome in outcomes if isinstance(outcome, sessions.IssuedTokens)]
    assert all(isinstance(outcome, InvalidGrant) for outcome in outcomes if outcome is not winner)
    assert sessions_of(user_id) == []
    with pytest.raises(InvalidGrant):
        rotate(services, winner.refresh_token)


# --- logout --------------------------------------------------------------------------------------


def test_logout_deletes_the_session_and_only_that_one(services, mailer):
    user_id = verified_account(services, mailer).user_id
    other = log_in(services)
    first = log_in(services)
    second = rotate(services, first.refresh_token)
    sessions.logout(services, KEYS, refresh_token=second.refresh_token)
    with pytest.raises(InvalidGrant):
        rotate(services, second.refresh_token)
    with pytest.raises(Unauthorized):
        authenticate(services, second)
    sessions.logout(services, KEYS, refresh_token=second.refresh_token)  # again: still fine
    [left] = sessions_of(user_id)
    assert claims_of(services, other)["sid"] == left.session_id
    rotate(services, other.refresh_token)


def test_logout_with_an_earlier_generation_of_the_session_also_ends_it(services, mailer):
    user_id = verified_account(services, mailer).user_id
    first = log_in(services)
    rotate(services, first.refresh_token)
    sessions.logout(services, KEYS, refresh_token=first.refresh_token)
    assert sessions_of(user_id) == []


@pytest.mark.parametrize("token", ["short", tokens.new_token()])
def test_logout_of_an_unknown_token_writes_nothing(services, token):
    sessions.logout(services, KEYS, refresh_token=token)
    assert table_items() == []


# --- authenticate --------------------------------------------------------------------------------


def test_authenticate_answers_the_user_and_session_of_a_live_access_token(services, mailer):
    user_id = verified_account(services, mailer).user_id
    issued = log_in(services)
    user, session = authenticate(services, issued)
    assert user.user_id == user_id and session.session_id == claims_of(services, issued)["sid"]
    assert sessions.profile(user) == {
        "user_id": user_id,
        "email": "ada@example.com",
        "email_verified": True,
        "name": "Ada",
        "created_at": "2025-11-21T15:00:00Z",
        "mfa_enabled": False,
        "roles": [],
    }


def test_authenticate_refuses_an_expired_session_though_the_claims_are_unchanged(services, mailer):
    verified_account(services, mailer)
    issued = log_in(services)
    claims = claims_of(services, issued)
    clock(services).now = START + services.settings.refresh_token_ttl_seconds - 1
    sessions.authenticate(services, claims)
    clock(services).advance(1)
    with pytest.raises(Unauthorized):
        sessions.authenticate(services, claims)


def test_authenticate_refuses_a_user_that_is_gone(services, mailer):
    user_id = verified_account(services, mailer).user_id
    issued = log_in(services)
    User(*User.key(user_id)).delete()
    with pytest.raises(Unauthorized):
        authenticate(services, issued)
    with pytest.raises(InvalidGrant):
        rotate(services, issued.refresh_token)


def test_authenticate_refuses_a_session_whose_epoch_is_behind_the_users(services, mailer):
    user_id = verified_account(services, mailer).user_id
    issued = log_in(services)
    User(*User.key(user_id)).update(actions=[User.session_epoch.add(1)])  # "revoke every session"
    with pytest.raises(Unauthorized):
        authenticate(services, issued)
    with pytest.raises(InvalidGrant):
        rotate(services, issued.refresh_token)


@pytest.mark.parametrize("claims", [
    {},
    {"sub": "0" * 32},
    {"sid": "0" * 32},
    {"sub": "not-an-id", "sid": "0" * 32},
    {"sub": "0" * 32, "sid": "../" + "0" * 29},
    {"sub": 7, "sid": "0" * 32},
])
def test_authenticate_refuses_malformed_claims_without_a_read(services, claims):
    calls = record_repository_calls(services)
    with pytest.raises(Unauthorized):
        sessions.authenticate(services, claims)
    assert calls.calls == []


def test_authenticate_refuses_claims_naming_another_users_session(services, mailer):
    verified_account(services, mailer)
    grace = verified_account(services, mailer, "grace@example.com")
    issued = log_in(services)
    claims = {**claims_of(services, issued), "sub": grace.user_id}
    with pytest.raises(Unauthorized):
        sessions.authenticate(services, claims)
