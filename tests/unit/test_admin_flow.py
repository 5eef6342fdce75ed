"""accounts.flows.admin on the real repository (moto): who may call, what each action writes to the
Account and the User, and the reminder rules (cap, page budget, one per account per 24 h, races)."""

from __future__ import annotations

import pytest

from accounts import schemas
from accounts.email_jobs import JobKind
from accounts.errors import EmailNotVerified, InsufficientScope, NotFound, Unauthorized
from accounts.flows import admin, sessions
from accounts.models import Account, User
from tests.conftest import in_parallel
from tests.unit.flow_helpers import (
    ADA,
    DAY,
    HOUR,
    account,
    authenticate,
    claims_of,
    clock,
    deliver,
    event_types,
    events,
    find_user,
    log_in,
    register,
    rotate,
    run_cleanup,
    set_on_both,
    verified_account,
)

GRACE = "grace@example.com"
CALLER = admin.Caller(user_id="f" * 32, ip="203.0.113.9")


@pytest.fixture
def grace(services, mailer):
    """A verified admin, logged in: her access-token claims."""
    verified_account(services, mailer, GRACE)
    admin.grant_admin(services.repo, GRACE)
    return claims_of(services, log_in(services, GRACE))


@pytest.fixture
def ada(services, mailer):
    """A verified user: her Account."""
    return verified_account(services, mailer, ADA)


def reminder_jobs(services) -> list[str]:
    return sorted(job.email for job in services.queue.take() if job.kind is JobKind.VERIFICATION_REMINDER)


# --- granting the role and calling as an admin ---------------------------------------------------


def test_grant_admin_sets_the_role_on_both_items_and_the_next_tokens_carry_the_scope(services, mailer, ada):
    issued = log_in(services)
    assert "accounts:admin" not in claims_of(services, issued)["scope"]
    granted = admin.grant_admin(services.repo, " Ada@Example.com ")
    assert granted == {"user_id": ada.user_id, "email": ADA, "roles": ["admin"]}
    assert account(services).roles == {"admin"} and find_user(ada.user_id).roles == {"admin"}
    assert claims_of(services, rotate(services, issued.refresh_token))["scope"].split()[-1] == "accounts:admin"
    assert claims_of(services, log_in(services))["scope"] == sessions.scope_for({"admin"})
    assert admin.grant_admin(services.repo, ADA)["roles"] == ["admin"]  # twice changes nothing


def test_grant_admin_refuses_unknown_unverified_and_malformed_addresses(services, mailer):
    register(services, "new@example.com")
    with pytest.raises(NotFound):
        admin.grant_admin(services.repo, "nobody@example.com")
    with pytest.raises(EmailNotVerified):
        admin.grant_admin(services.repo, "new@example.com")
    with pytest.raises(ValueError, match="email address"):
        admin.grant_admin(services.repo, "not an address")
    assert account(services, "new@example.com").roles is None


def test_require_admin_needs_the_scope_a_live_session_and_the_role(services, mailer, grace, ada):
    assert admin.require_admin(services, grace).email == GRACE
    with pytest.raises(InsufficientScope):
        admin.require_admin(services, claims_of(services, log_in(services)))  # ada: no scope
    with pytest.raises(InsufficientScope):
        admin.require_admin(services, {**grace, "scope": "openid profile email"})
    set_on_both(grace["sub"], GRACE, roles=None)  # the role was taken away after the token was issued
    with pytest.raises(InsufficientScope):
        admin.require_admin(services, grace)
    set_on_both(grace["sub"], GRACE, roles={"admin"}, disabled=True)
    with pytest.raises(Unauthorized):
        admin.require_admin(services, grace)


# --- one user ------------------------------------------------------------------------------------


def test_look_up_counts_only_sessions_that_still_work(services, mailer, grace, ada):
    first = log_in(services)
    log_in(services)
    assert admin.look_up(services, ada.user_id)["active_sessions"] == 2
    clock(services).advance(services.settings.refresh_token_ttl_seconds + 1)
    assert admin.look_up(services, ada.user_id)["active_sessions"] == 0  # expired, not yet deleted by TTL
    clock(services).now -= services.settings.refresh_token_ttl_seconds + 1
    admin.revoke_sessions(services, CALLER, ada.user_id)
    assert admin.look_up(services, ADA)["active_sessions"] == 0
    with pytest.raises(Unauthorized):
        authenticate(services, first)


def test_look_up_by_email_finds_unverified_accounts_and_by_id_only_users(services, mailer):
    register(services, "new@example.com")
    found = admin.look_up(services, "new@example.com")
    assert found["email_verified"] is False and found["active_sessions"] == 0 and found["roles"] == []
    for ref in (found["user_id"], "new@example", "x" * 32, ""):
        with pytest.raises(NotFound):
            admin.look_up(services, ref)


# --- disable, enable, revoke ---------------------------------------------------------------------


def test_disable_and_enable_write_both_items_and_record_one_event_each(services, mailer, ada):
    issued = log_in(services)
    assert admin.set_disabled(services, CALLER, ada.user_id, disabled=True) == {"user_id": ada.user_id,
                                                                                 "disabled": True}
    assert account(services).disabled and find_user(ada.user_id).disabled
    with pytest.raises(Unauthorized):
        authenticate(services, issued)
    admin.set_disabled(services, CALLER, ada.user_id, disabled=True)  # already disabled: nothing happens
    admin.set_disabled(services, CALLER, ada.user_id, disabled=False)
    assert not account(services).disabled and not find_user(ada.user_id).disabled
    assert authenticate(services, issued)[0].user_id == ada.user_id
    recorded = [event for event in events(ada.user_id) if event.type in ("disabled", "enabled")]
    assert [(event.type, event.actor, event.ip) for event in recorded] == [
        ("disabled", CALLER.user_id, None), ("enabled", CALLER.user_id, None)]  # the admin's IP is not shown


def test_parallel_disables_record_one_event(services, mailer, ada):
    results = in_parallel(4, lambda: admin.set_disabled(services, CALLER, ada.user_id, disabled=True))
    assert all(result == {"user_id": ada.user_id, "disabled": True} for result in results)
    assert event_types(ada.user_id).count("disabled") == 1


def test_revoke_bumps_the_epoch_on_both_items(services, mailer, ada):
    before = int(account(services).session_epoch)
    admin.revoke_sessions(services, CALLER, ada.user_id)
    assert int(account(services).session_epoch) == int(find_user(ada.user_id).session_epoch) == before + 1
    assert event_types(ada.user_id)[-1] == "session_revoked"


def test_an_action_on_a_user_whose_account_moved_is_read_again(services, mailer, ada, monkeypatch):
    """The transaction's conditions fail when the Account no longer matches the User read: the flow reads
    the user again and retries, and a user that is gone is a 404."""
    calls = []
    real = services.repo.set_disabled

    def flaky(user, **kwargs):
        calls.append(user.email_key)
        if len(calls) == 1:
            User(*User.key(ada.user_id)).update(actions=[User.email_key.set("moved@example.com")])
        return real(user, **kwargs)

    monkeypatch.setattr(services.repo, "set_disabled", flaky)
    Account(*Account.key("moved@example.com"), user_id=ada.user_id, email="moved@example.com", password_hash="x",
            created_at=0, verified=True).save()
    admin.set_disabled(services, CALLER, ada.user_id, disabled=True)
    assert calls == [ADA, "moved@example.com"]
    assert Account.get(*Account.key("moved@example.com")).disabled and not account(services).disabled
    User(*User.key(ada.user_id)).delete()
    with pytest.raises(NotFound):
        admin.revoke_sessions(services, CALLER, ada.user_id)


# --- verification reminders ----------------------------------------------------------------------


def test_reminders_go_to_unverified_accounts_once_per_24_hours_and_are_a_fresh_link(services, mailer, ada):
    register(services, "new@example.com")
    assert deliver(services, mailer) == ["sent_verification"]
    addresses = ["new@example.com", ADA, "nobody@example.com", "NEW@example.com"]
    assert admin.send_reminders(services, CALLER, emails=addresses).as_dict() == {"queued": 1, "more": False}
    assert deliver(services, mailer) == ["sent_verification_reminder"]
    clock(services).advance(DAY - 1)
    assert admin.send_reminders(services, CALLER, emails=["new@example.com"]).queued == 0
    clock(services).advance(1)
    assert admin.send_reminders(services, CALLER, emails=["new@example.com"]).queued == 1


def test_an_admin_reminder_stands_for_cleanups_reminder(services, mailer):
    register(services, "new@example.com")
    services.queue.take()
    clock(services).advance(2 * HOUR)
    assert admin.send_reminders(services, CALLER, emails=["new@example.com"]).queued == 1
    services.queue.take()
    clock(services).advance(DAY)  # cleanup's reminder time: it sees the reminder and does not send another
    report = run_cleanup(services)
    assert report.reminded == 0 and services.queue.take() == []
    clock(services).advance(7 * DAY)
    assert run_cleanup(services).deleted == 1  # and deletes on time as usual


def test_parallel_reminder_requests_claim_each_account_once(services, mailer):
    addresses = [f"new{n}@example.com" for n in range(12)]
    for address in addresses:
        register(services, address)
    services.queue.take()
    reports = in_parallel(4, lambda: admin.send_reminders(services, CALLER, emails=addresses))
    assert sum(report.queued for report in reports) == 12
    assert reminder_jobs(services) == sorted(addresses)


def test_registered_before_is_capped_per_request_and_says_there_is_more(services, mailer):
    for n in range(admin.MAX_REMINDERS + 30):
        register(services, f"early{n}@example.com", ip=f"10.0.0.{n}")  # under the per-IP limit
    clock(services).advance(HOUR)
    register(services, "late@example.com")
    services.queue.take()
    cutoff = clock(services).now - 1
    first = admin.send_reminders(services, CALLER, registered_before=cutoff)
    assert first.as_dict() == {"queued": admin.MAX_REMINDERS, "more": True}
    second = admin.send_reminders(services, CALLER, registered_before=cutoff)
    assert second.as_dict() == {"queued": 30, "more": False}
    jobs = reminder_jobs(services)
    assert len(jobs) == len(set(jobs)) == admin.MAX_REMINDERS + 30 and "late@example.com" not in jobs
    assert admin.send_reminders(services, CALLER, registered_before=cutoff).as_dict() == {"queued": 0,
                                                                                          "more": False}


def test_registered_before_reads_a_bounded_number_of_pages(services, mailer, monkeypatch):
    """Each request reads at most REMINDER_MAX_PAGES pages of each index partition; what it did not
    reach is left for the next request (`more`)."""
    monkeypatch.setattr(admin, "REMINDER_PAGE_SIZE", 1)
    monkeypatch.setattr(admin, "REMINDER_MAX_PAGES", 1)
    pages = []
    real = services.repo.unverified_page
    monkeypatch.setattr(services.repo, "unverified_page", lambda *a, **k: pages.append(a) or real(*a, **k))
    for n in range(40):  # more than one entry in some of the 32 partitions
        register(services, f"early{n}@example.com", ip=f"10.0.0.{n}")  # under the per-IP limit
    services.queue.take()
    clock(services).advance(HOUR)
    report = admin.send_reminders(services, CALLER, registered_before=clock(services).now)
    assert len(pages) == 32 and report.more and 0 < report.queued < 40


def test_registered_before_stops_before_the_invocation_runs_out(services, mailer):
    register(services, "new@example.com")
    clock(services).advance(HOUR)
    report = admin.send_reminders(services, CALLER, registered_before=clock(services).now,
                                  remaining_ms=lambda: admin.SAFETY_MARGIN_MS - 1)
    assert report.as_dict() == {"queued": 0, "more": True}


def test_the_request_schema_states_the_flows_cap():
    assert schemas.MAX_REMINDER_EMAILS == admin.MAX_REMINDERS


def test_the_reminder_job_is_cleanups_kind_delivered_by_the_worker(services, mailer):
    register(services, "new@example.com")
    services.queue.take()
    admin.send_reminders(services, CALLER, emails=["new@example.com"])
    [job] = services.queue.jobs
    assert job.kind is JobKind.VERIFICATION_REMINDER and job.email == "new@example.com"
