"""The signed-out pages in the browser: sign up, the emailed verify-email link, log in (also with the
keyboard alone), log out, and errors shown with the problem's detail and field errors."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.e2e.browser.flows import PASSWORD, address, log_in, new_account, post
from tests.e2e.conftest import Mailbox


def test_sign_up_follow_the_emailed_link_log_in_and_log_out(page: Page, check_page, mailbox: Mailbox, app_url):
    """The whole first visit: every page passes axe and gets a screenshot."""
    email = address()
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_visible()  # home when signed out
    check_page(page, "home-signed-out")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(f"{app_url}signup")
    check_page(page, "signup")

    page.get_by_label("Email address").fill(email)
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_text(f"We sent a verification link to {email}")).to_be_visible()
    check_page(page, "signup-done")

    # The link in the email opens this app (local mode's APP_BASE_URL is <server>/app).
    link = next(u for u in re.findall(r"https?://\S+", mailbox.wait_for(email)["text"]) if "/verify-email?" in u)
    assert link.startswith(f"{app_url}verify-email?token=")
    page.goto(link)
    expect(page.get_by_text("Your email address is verified")).to_be_visible()
    assert page.url == f"{app_url}verify-email"  # the token left the address bar (and history) once read
    check_page(page, "verify-email")

    page.get_by_role("link", name="Log in", exact=True).last.click()
    check_page(page, "login")
    log_in(page, email)
    expect(page.get_by_role("status").filter(has_text=f"Signed in as {email}")).to_be_visible()
    expect(page.get_by_role("region", name="Profile")).to_contain_text("Ada Lovelace")
    check_page(page, "account")

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_visible()
    page.goto("account")  # the session is gone: the account page sends to log in
    expect(page.get_by_text("Log in to see your account.")).to_be_visible()


def test_weak_password_shows_each_rule_next_to_the_field(page: Page, check_page):
    page.goto("signup")
    page.get_by_label("Email address").fill(address())
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("password")
    password = page.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    described_by = password.get_attribute("aria-describedby") or ""
    error = page.locator(f"#{described_by.split()[-1]}")
    expect(error).to_contain_text(re.compile("characters", re.IGNORECASE))  # the length rule, next to the field
    assert error.locator("p").count() >= 2  # each unmet rule on its own line
    expect(password).to_be_focused()  # the keyboard lands on the field to fix
    check_page(page, "signup-weak-password")


def test_invalid_email_is_a_field_error_and_a_wrong_password_shows_the_detail(
    page: Page, check_page, local_server, mailbox: Mailbox
):
    page.goto("signup")
    page.get_by_label("Email address").fill("not-an-address")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")

    email = new_account(local_server, mailbox)
    page.goto("login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill("Wrong-Password-123!")
    page.get_by_role("button", name="Log in").click()
    detail = post(local_server, "/v1/auth/login", {"email": address(), "password": "x"}).json()["detail"]
    expect(page.get_by_role("alert")).to_contain_text(detail)  # the problem document's own words
    check_page(page, "login-wrong-password")


def test_unverified_login_offers_to_send_the_link_again(page: Page, local_server, mailbox: Mailbox, check_page):
    email = address()
    assert post(local_server, "/v1/auth/register", {"email": email, "password": PASSWORD}).status_code == 202
    page.goto("login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text(re.compile("verif", re.IGNORECASE))
    page.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_text(f"If {email} has an account that is not verified yet")).to_be_visible()
    mailbox.wait_for(email, count=2)
    check_page(page, "login-unverified")


def test_a_bad_verify_link_shows_the_error_and_a_resend_form(page: Page, check_page):
    page.goto("verify-email?token=not-a-real-token")
    expect(page.get_by_role("alert")).not_to_be_empty()
    expect(page.get_by_role("button", name="Send the link again")).to_be_visible()
    check_page(page, "verify-email-invalid")


def test_keyboard_alone_logs_in_with_a_visible_focus(page: Page, local_server, mailbox: Mailbox):
    """Tab and Enter only: the focus moves through labelled fields, is visible, and Enter submits."""
    email = new_account(local_server, mailbox)
    page.goto("login")
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email address")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Log in")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_focused()

    # Back to the navigation (just before <main>) and log out with Enter.
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("button", name="Log out")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("You are logged out.")).to_be_visible()


def test_an_unknown_path_shows_not_found(page: Page, check_page):
    page.goto("no-such-page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    check_page(page, "not-found")


def test_progress_while_a_request_runs(page: Page, local_server, mailbox: Mailbox):
    """The submit button is disabled, says Working… and the form is aria-busy until the answer."""
    email = new_account(local_server, mailbox)
    page.goto("login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    held = []
    page.route("**/v1/auth/login", lambda route: held.append(route))
    page.get_by_role("button", name="Log in").click()
    busy = page.get_by_role("button", name="Working…")
    expect(busy).to_be_disabled()
    expect(page.locator("form[aria-busy=true]")).to_have_count(1)
    for _ in range(100):  # the route handler runs while Playwright dispatches events
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the login request was not seen"
    held[0].continue_()
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()


def test_rate_limited_answer_shows_the_detail_and_when_to_try_again(page: Page, check_page):
    """A 429 shows its detail and Retry-After (answered here by routing: the e2e server's limits are high)."""
    problem = {"type": "about:blank", "title": "Too Many Requests", "status": 429, "code": "rate_limited",
               "detail": "Too many requests for this address; try again later."}
    page.route("**/v1/auth/password-reset", lambda route: route.fulfill(
        status=429, content_type="application/problem+json", body=json.dumps(problem),
        headers={"Retry-After": "42"}))
    page.goto("forgot-password")
    page.get_by_label("Email address").fill(address())
    page.get_by_role("button", name="Send the reset link").click()
    expect(page.get_by_role("alert")).to_have_text(f"{problem['detail']} Try again in 42 seconds.")
    expect(page.get_by_role("button", name="Send the reset link")).to_be_enabled()  # progress is over
    check_page(page, "forgot-password-rate-limited")
