"""Browser fixtures: the web app (`web/`, served by local mode at /app/) in headless Chromium.

Playwright for Python drives the SYSTEM Chromium through `executable_path` (browser downloads
are not available everywhere); without one, every test in this folder is skipped with a message
saying how to install it. Every test here carries the `e2e` and `browser` markers.

Fixtures
- `browser` (session): headless Chromium (env `CHROMIUM_PATH` chooses the executable).
- `app_url` (session): the app base of the shared e2e local server, `<local_server>/app/`; the
  server's emailed links point at it (local mode's default APP_BASE_URL is `<server>/app`).
- `page` (function): a fresh browser context (base URL = `app_url`, so `page.goto("login")`
  works) and page, closed after the test. Uncaught page errors and Content-Security-Policy
  violations are collected on `page.problems` (a list of strings).
- `check_page` (function): `check_page(page, "login")` runs axe-core on the current page and
  fails on any serious or critical violation or on a CSP violation / uncaught error seen so far,
  then saves a full-page screenshot to `.artifacts/screenshots/login.png`.
- `mailbox` (tests/e2e/conftest.py) reads the server's `/_local/emails`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

BROWSER_DIR = Path(__file__).resolve().parent
SCREENSHOT_DIR = REPO_ROOT / ".artifacts" / "screenshots"
NO_CHROMIUM = (
    "no Chromium found: apt-get install -y chromium-headless-shell (or chromium), or set CHROMIUM_PATH"
)
# Names on PATH, then where Debian/Ubuntu packages put the real binaries.
_CANDIDATE_NAMES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome")
_CANDIDATE_PATHS = (
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/chromium",
    "/usr/lib/chromium-browser/chromium-browser",
    "/opt/google/chrome/chrome",
)
BLOCKING_IMPACTS = ("serious", "critical")


def find_chromium() -> str | None:
    """The Chromium executable to drive: $CHROMIUM_PATH, else the first one installed."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in _CANDIDATE_NAMES:
        found = shutil.which(name)
        if found:
            return found
    for path in _CANDIDATE_PATHS:
        if os.access(path, os.X_OK):
            return path
    return None


CHROMIUM = find_chromium()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder's tests e2e + browser (so the fast suite leaves them out); skip without Chromium."""
    for item in items:
        if BROWSER_DIR not in item.path.parents:
            continue  # this hook sees the whole session's items
        item.add_marker(pytest.mark.e2e)
        item.add_marker(pytest.mark.browser)
        if CHROMIUM is None:
            item.add_marker(pytest.mark.skip(reason=NO_CHROMIUM))


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.skip(NO_CHROMIUM)
    # Imported here so that collecting (and skipping) works without playwright installed.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def app_url(local_server: str) -> str:
    return f"{local_server}/app/"


def _is_csp_violation(text: str) -> bool:
    return "Content Security Policy" in text or "Content-Security-Policy" in text


@pytest.fixture
def page(browser: Browser, app_url: str) -> Iterator[Page]:
    context = browser.new_context(base_url=app_url)
    new_page = context.new_page()
    problems: list[str] = []
    new_page.on("pageerror", lambda error: problems.append(f"uncaught error: {error}"))
    new_page.on(
        "console",
        lambda message: problems.append(f"CSP violation: {message.text}")
        if _is_csp_violation(message.text)
        else None,
    )
    new_page.problems = problems  # type: ignore[attr-defined]
    yield new_page
    context.close()


def _describe(violation: dict) -> str:
    targets = [", ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])]
    return f"[{violation.get('impact')}] {violation.get('id')}: {violation.get('help')} at {targets[:5]}"


@pytest.fixture
def check_page() -> Callable[[Page, str], None]:
    """check_page(page, name): axe-core (no serious/critical), no CSP violation, then a screenshot."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def check(page: Page, name: str) -> None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        # The screenshot first, so a failing page can still be looked at.
        page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)
        results = axe.run(page)
        blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
        assert not blocking, f"axe-core on {name} ({page.url}):\n" + "\n".join(map(_describe, blocking))
        problems = getattr(page, "problems", [])
        assert not problems, f"{name} ({page.url}):\n" + "\n".join(problems)

    return check
