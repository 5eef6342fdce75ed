"""Two-factor authentication and password reset in the browser: TOTP enrolment with a QR code and
recovery codes, log in with a code (pyotp, from the secret the page shows) and with a recovery code,
turning it off; forgot password and the emailed reset-password link."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import PASSWORD, log_in, login, new_account, region, submit_login, totp
from tests.e2e.conftest import Mailbox

RESET_PASSWORD = "Reset-Strong-Passw0rd!"


def password_step(page: Page, email: str, password: str = PASSWORD) -> None:
    submit_login(page, email, password)
    expect(page.get_by_role("heading", name="Two-factor authentication", level=1)).to_be_visible()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()


def test_totp_enrolment_then_log_in_with_a_code_and_with_a_recovery_code(
    page: Page, check_page, local_server, mailbox: Mailbox
):
    email = new_account(local_server, mailbox)
    log_in(page, email)
    part = region(page, "Two-factor authentication")
    part.get_by_role("button", name="Set up two-factor authentication").click()

    qr = part.get_by_role("img", name="QR code to add this account to an authenticator app")
    expect(qr).to_be_visible()
    assert qr.evaluate("el => el.tagName.toLowerCase()") == "svg"
    assert len(qr.locator("path").get_attribute("d") or "") > 1000  # modules were drawn
    secret = part.get_by_test_id("totp-secret").inner_text().strip()
    check_page(page, "account-mfa-enrol")

    part.get_by_label("6-digit code from the app").fill("000000")
    part.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(part.get_by_role("alert")).not_to_be_empty()  # a wrong code: the detail, still enrolling
    part.get_by_label("6-digit code from the app").fill(totp(secret))
    part.get_by_role("button", name="Turn on two-factor authentication").click()
    codes = part.locator(".recovery-codes li")
    expect(codes).to_have_count(10)
    recovery = [c.strip() for c in codes.all_inner_texts()]
    expect(region(page, "Profile").locator("dl")).to_contain_text("On")
    check_page(page, "account-recovery-codes")
    part.get_by_role("button", name="I have saved the codes").click()
    expect(part.get_by_role("button", name="Turn off two-factor authentication")).to_be_visible()
    log_out(page)

    # The password alone is not enough now: the second step asks for a code.
    password_step(page, email)
    check_page(page, "login-mfa")
    page.get_by_label("6-digit code").fill("000000")
    page.get_by_role("button", name="Verify and log in").click()
    expect(page.get_by_role("alert")).not_to_be_empty()
    page.get_by_label("6-digit code").fill(totp(secret, steps_ahead=1))  # the enrolment used this step's
    page.get_by_role("button", name="Verify and log in").click()
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
    log_out(page)

    password_step(page, email)
    page.get_by_role("button", name="Use a recovery code instead").click()
    expect(page.get_by_label("Recovery code")).to_be_focused()
    check_page(page, "login-mfa-recovery")
    page.get_by_label("Recovery code").fill(recovery[0])
    page.get_by_role("button", name="Verify and log in").click()
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()

    # Turn it off with the password and another recovery code (as with a lost phone).
    part = region(page, "Two-factor authentication")
    part.get_by_label("Password").fill(PASSWORD)
    part.get_by_label("Code from the app, or a recovery code").fill(recovery[1])
    part.get_by_role("button", name="Turn off two-factor authentication").click()
    expect(part.get_by_role("status")).to_contain_text("Two-factor authentication is off.")
    expect(region(page, "Profile").locator("dl")).to_contain_text("Off")
    assert login(local_server, email).status_code == 200  # the password alone logs in again


def test_forgot_password_then_the_emailed_reset_link(page: Page, check_page, local_server, mailbox: Mailbox):
    email = new_account(local_server, mailbox)
    page.goto("login")
    page.get_by_role("link", name="Forgot your password?").click()
    check_page(page, "forgot-password")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Send the reset link").click()
    expect(page.get_by_role("status")).to_contain_text(f"If {email} has an account")

    token = mailbox.token(email, "/reset-password")
    page.goto(f"reset-password?token={token}")
    check_page(page, "reset-password")
    page.get_by_label("New password", exact=True).fill("weak")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_label("New password", exact=True)).to_have_attribute("aria-invalid", "true")
    check_page(page, "reset-password-weak")
    page.get_by_label("New password", exact=True).fill(RESET_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()
    log_in(page, email, RESET_PASSWORD)


def test_a_reset_link_without_a_token_says_so(page: Page):
    page.goto("reset-password")
    page.get_by_label("New password", exact=True).fill(RESET_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("alert")).to_contain_text("This link has no token")
