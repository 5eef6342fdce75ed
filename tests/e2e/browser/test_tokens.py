"""Tokens in the browser: the access token only in memory, refreshed about a minute before it expires
(the page's clock fast-forwarded), refreshed once on a 401 for the token, the session kept across a
reload of the tab, and the log in page shown when a refresh is refused."""

from __future__ import annotations

import json

from playwright.sync_api import Page, Request, expect

from tests.e2e.browser.flows import log_in, new_account, post
from tests.e2e.conftest import Mailbox

ACCESS_TOKEN_TTL_MS = 900_000  # the template's default AccessTokenTtlSeconds, which the e2e server keeps
REFRESH_KEY = "accounts.refresh_token"


def count_refreshes(page: Page) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda request: seen.append(request) if request.url.endswith("/v1/auth/refresh") else None)
    return seen


def test_the_access_token_is_refreshed_a_minute_before_it_expires(page: Page, local_server, mailbox: Mailbox):
    email = new_account(local_server, mailbox)
    refreshes = count_refreshes(page)
    page.clock.install()  # before the app loads, so its timers run on the fake clock
    with page.expect_response("**/v1/auth/login") as login_answer:
        log_in(page, email)
    access_token = login_answer.value.json()["access_token"]

    # Only in memory: neither storage nor a cookie holds the access token.
    stored = page.evaluate("JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])")
    assert access_token not in stored and access_token not in json.dumps(page.context.cookies())

    page.clock.fast_forward(ACCESS_TOKEN_TTL_MS - 75_000)
    page.wait_for_timeout(300)
    assert refreshes == [], "refreshed too early"
    with page.expect_response("**/v1/auth/refresh") as first:
        page.clock.fast_forward(20_000)  # now 55 s before expiry: past the 60 s margin
    assert first.value.status == 200
    assert len(refreshes) == 1

    # The next refresh is planned from the new token's lifetime.
    with page.expect_response("**/v1/auth/refresh") as second:
        page.clock.fast_forward(ACCESS_TOKEN_TTL_MS - 55_000)
    assert second.value.status == 200 and len(refreshes) == 2

    # The refreshed token works for a service route.
    page.get_by_role("region", name="Profile").get_by_label("Name", exact=True).fill("Refreshed")
    page.get_by_role("button", name="Save name").click()
    expect(page.get_by_text("Your name is saved.")).to_be_visible()
    assert len(refreshes) == 2


def test_a_401_for_the_access_token_gets_one_refresh_and_a_retry(page: Page, local_server, mailbox: Mailbox):
    email = new_account(local_server, mailbox)
    log_in(page, email)
    refreshes = count_refreshes(page)
    problem = {"type": "about:blank", "title": "Unauthorized", "status": 401, "code": "unauthorized",
               "detail": "The access token is missing, malformed or expired."}
    page.route("**/v1/auth/me", lambda route: route.fulfill(
        status=401, content_type="application/problem+json", body=json.dumps(problem),
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}), times=1)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    expect(page.get_by_role("region", name="Profile")).to_contain_text(email)
    assert len(refreshes) == 1


def test_a_reload_keeps_the_session(page: Page, local_server, mailbox: Mailbox, app_url):
    """The refresh token is in this tab's sessionStorage: a reload gets a new access token with it; the
    home page of a signed-in user is the account page."""
    email = new_account(local_server, mailbox)
    log_in(page, email)
    refreshes = count_refreshes(page)
    page.goto(app_url)
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="Profile")).to_contain_text(email)
    assert len(refreshes) == 1


def test_a_refused_refresh_ends_the_session_in_the_page(page: Page, local_server, mailbox: Mailbox, check_page):
    email = new_account(local_server, mailbox)
    page.clock.install()
    log_in(page, email)
    # Another device revokes this session (a logout with its refresh token).
    refresh_token = page.evaluate(f"sessionStorage.getItem({REFRESH_KEY!r})")
    assert post(local_server, "/v1/auth/logout", {"refresh_token": refresh_token}).status_code == 204
    with page.expect_response("**/v1/auth/refresh") as refused:
        page.clock.fast_forward(ACCESS_TOKEN_TTL_MS)
    assert refused.value.status == 401
    expect(page.get_by_text("Your session has ended. Log in again.")).to_be_visible()
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem({REFRESH_KEY!r})") is None
    check_page(page, "login-session-ended")
