"""Steps the browser tests share: accounts made over HTTP, and the app's log in done in the page."""

from __future__ import annotations

import time

import pyotp
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Mailbox
from tests.e2e.test_flows import PASSWORD, address, login, post, verified_account

__all__ = ["PASSWORD", "address", "log_in", "login", "new_account", "post", "region", "submit_login", "totp",
           "verified_account"]


def new_account(base: str, mailbox: Mailbox, password: str = PASSWORD) -> str:
    """A verified account made over HTTP (the pages of sign up are tested on their own)."""
    email = address()
    verified_account(base, mailbox, email, password)
    return email


def submit_login(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill in and send the log-in page's form."""
    page.goto("login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Log in through the app's page and wait for the account page to show the profile."""
    submit_login(page, email, password)
    expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
    expect(page.get_by_role("region", name="Profile")).to_contain_text(email)
    # The sections that load after the profile, so a screenshot or axe sees the whole page.
    expect(page.get_by_role("region", name="Sessions").locator("caption")).to_contain_text("active session")
    expect(page.get_by_role("region", name="Security events").get_by_role("row").nth(1)).to_be_visible()


def totp(secret: str, steps_ahead: int = 0) -> str:
    """The authenticator's code now, or `steps_ahead` 30 s steps later (the server accepts one step of
    drift and refuses a step it already accepted)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def region(page: Page, name: str):
    """An account page section (a <section> labelled by its h2)."""
    return page.get_by_role("region", name=name)
