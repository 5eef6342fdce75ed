"""The account page in the browser: profile, password change (other sessions end), email change
through the emailed confirm-email link, sessions list and revoke, security events paging, delete."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import PASSWORD, address, log_in, login, new_account, post, region
from tests.e2e.conftest import Mailbox

NEW_PASSWORD = "Another-Strong-Passw0rd!"


def refresh_status(base: str, refresh_token: str) -> int:
    return post(base, "/v1/auth/refresh", {"refresh_token": refresh_token}).status_code


def test_profile_name_is_saved(page: Page, local_server, mailbox: Mailbox):
    log_in(page, new_account(local_server, mailbox))
    profile = region(page, "Profile")
    profile.get_by_label("Name", exact=True).fill("Grace Hopper")
    profile.get_by_role("button", name="Save name").click()
    expect(profile.get_by_role("status")).to_contain_text("Your name is saved.")
    expect(profile.locator("dl")).to_contain_text("Grace Hopper")
    page.reload()
    expect(region(page, "Profile").locator("dl")).to_contain_text("Grace Hopper")  # the API has it


def test_password_change_ends_the_other_sessions_and_keeps_this_one(
    page: Page, check_page, local_server, mailbox: Mailbox
):
    email = new_account(local_server, mailbox)
    other = login(local_server, email).json()  # another device
    log_in(page, email)
    sessions = region(page, "Sessions")
    expect(sessions.locator("caption")).to_have_text("2 active sessions")

    part = region(page, "Password")
    part.get_by_label("Current password").fill(PASSWORD)
    part.get_by_label("New password").fill("weak")
    part.get_by_role("button", name="Change password").click()
    new_field = part.get_by_label("New password")
    expect(new_field).to_have_attribute("aria-invalid", "true")  # the policy's "password" errors land here
    expect(part.get_by_role("alert")).to_contain_text("password policy")
    check_page(page, "account-password-weak")

    new_field.fill(NEW_PASSWORD)
    part.get_by_role("button", name="Change password").click()
    expect(part.get_by_role("status")).to_contain_text("Every other session was signed out")
    expect(sessions.locator("caption")).to_have_text("1 active session")
    assert refresh_status(local_server, other["refresh_token"]) == 401
    assert login(local_server, email, NEW_PASSWORD).status_code == 200

    part.get_by_label("Current password").fill("Not-The-Password-1!")
    part.get_by_label("New password").fill(NEW_PASSWORD + "x")
    part.get_by_role("button", name="Change password").click()
    expect(part.get_by_role("alert")).not_to_be_empty()  # a wrong current password shows the detail


def test_email_change_is_confirmed_by_the_emailed_link(page: Page, check_page, local_server, mailbox: Mailbox):
    email, new_email = new_account(local_server, mailbox), address()
    log_in(page, email)
    part = region(page, "Email address")
    part.get_by_label("New email address").fill(new_email)
    part.get_by_label("Password").fill(PASSWORD)
    part.get_by_role("button", name="Send the confirmation link").click()
    expect(part.get_by_role("status")).to_contain_text(f"A confirmation link is on its way to {new_email}")

    token = mailbox.token(new_email, "/confirm-email")
    page.goto(f"confirm-email?token={token}")  # a reload: the session comes back from sessionStorage
    expect(page.get_by_text(f"Your email address is now {new_email}.")).to_be_visible()
    check_page(page, "confirm-email")
    page.get_by_role("link", name="Back to your account").click()
    expect(region(page, "Profile").locator("dl")).to_contain_text(new_email)

    page.goto(f"confirm-email?token={token}")  # used once
    expect(page.get_by_role("alert")).not_to_be_empty()
    check_page(page, "confirm-email-used")


def test_sessions_are_listed_and_one_is_revoked(page: Page, check_page, local_server, mailbox: Mailbox):
    email = new_account(local_server, mailbox)
    other = login(local_server, email).json()
    log_in(page, email)
    sessions = region(page, "Sessions")
    expect(sessions.get_by_text("This session")).to_be_visible()
    revoke = sessions.get_by_role("button", name=re.compile("^Revoke the session started"))
    expect(revoke).to_have_count(1)
    check_page(page, "account-sessions")
    revoke.click()
    expect(sessions.get_by_role("status")).to_contain_text("The session was revoked.")
    expect(sessions.locator("caption")).to_have_text("1 active session")
    assert refresh_status(local_server, other["refresh_token"]) == 401


def test_security_events_page_with_show_more(page: Page, check_page, local_server, mailbox: Mailbox):
    email = new_account(local_server, mailbox)
    for _ in range(11):
        assert login(local_server, email).status_code == 200
    log_in(page, email)  # 12 logins: more than one page of 10
    events = region(page, "Security events")
    rows = events.locator("tbody tr")
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("Logged in")
    events.get_by_role("button", name="Show more events").click()
    expect(rows).to_have_count(12)
    expect(events.get_by_text("No older events.")).to_be_visible()
    expect(rows.nth(10).locator("th")).to_be_focused()  # the keyboard continues at the first new event
    check_page(page, "account-events")


def test_delete_account(page: Page, check_page, local_server, mailbox: Mailbox):
    email = new_account(local_server, mailbox)
    log_in(page, email)
    part = region(page, "Delete account")
    part.get_by_label("Password").fill("Not-The-Password-1!")
    part.get_by_role("button", name="Delete my account").click()
    expect(part.get_by_role("alert")).not_to_be_empty()
    check_page(page, "account-delete-wrong-password")
    part.get_by_label("Password").fill(PASSWORD)
    part.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_text("Your account was deleted.")).to_be_visible()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    assert login(local_server, email).status_code == 401
