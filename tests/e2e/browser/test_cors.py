"""The web app hosted on another origin than the API, as a static host in AWS would serve it.

Playwright answers every request for `http://localhost:<port>/app/...` from `web/` (the hosting
rule of local/web_app.py, with `config.js` pointing at the API and the CSP the README documents
for such a host), so the browser sees a second origin; the API is a local server of its own whose
CORS configuration (CORS_ALLOWED_ORIGINS, the template's CorsAllowedOrigins) lists one of them.
An allowed origin logs in through the app; a refused one gets no answer to read: the fetch fails
in the browser and the page shows the error."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from local.web_app import content_type
from tests.e2e.browser.flows import PASSWORD, log_in, new_account
from tests.e2e.conftest import REPO_ROOT, Mailbox

WEB_DIR = REPO_ROOT / "web"
# localhost, not a made-up host name: the page stays a secure context, as on an https host.
ALLOWED_ORIGIN = "http://localhost:5173"
REFUSED_ORIGIN = "http://localhost:5174"


@pytest.fixture(scope="module")
def api(start_local_server: Callable[..., str]) -> str:
    return start_local_server({"CORS_ALLOWED_ORIGINS": ALLOWED_ORIGIN})


def static_host_csp(api_origin: str) -> str:
    """The README's Content-Security-Policy for a host whose API is on another origin."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' {api_origin}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    )


def serve_web(origin: str, api_base_url: str) -> Callable[[Route], None]:
    """A route handler that answers as a static host of web/ at `<origin>/app/` would."""
    csp = static_host_csp(api_base_url)
    config_js = f'export const API_BASE_URL = "{api_base_url}";\n'.encode()

    def fulfil(route: Route) -> None:
        path = urlsplit(route.request.url).path.removeprefix("/app/")
        headers = {"Content-Security-Policy": csp, "Cache-Control": "no-cache"}
        if path == "config.js":
            route.fulfill(status=200, body=config_js, headers={**headers, "Content-Type": content_type(path)})
            return
        file = (WEB_DIR / path).resolve()
        if WEB_DIR.resolve() not in file.parents or not file.is_file():
            if "." in path.rsplit("/", 1)[-1]:
                route.fulfill(status=404, body=b"not found", headers=headers)
                return
            file = WEB_DIR / "index.html"  # the SPA fallback
        route.fulfill(status=200, body=file.read_bytes(), headers={**headers, "Content-Type": content_type(file.name)})

    return fulfil


@pytest.fixture
def context_on(browser: Browser, api: str) -> Iterator[Callable[[str], BrowserContext]]:
    """context_on(origin): a browser context whose app comes from `origin`, calling the API at `api`."""
    contexts: list[BrowserContext] = []

    def make(origin: str) -> BrowserContext:
        # The API is on a loopback address here (in AWS it is public): Chromium's Local Network
        # Access asks the user before a page from elsewhere may call it; this grants it, so that
        # what is tested is CORS alone.
        context = browser.new_context(base_url=f"{origin}/app/", permissions=["local-network-access"])
        context.route(f"{origin}/app/**", serve_web(origin, api))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def test_an_allowed_origin_logs_in_and_reads_the_account(
    context_on: Callable[[str], BrowserContext], api: str, check_page: Callable[[Page, str], None]
) -> None:
    email = new_account(api, Mailbox(api))
    page = context_on(ALLOWED_ORIGIN).new_page()
    answers: list[tuple[str, int, str | None]] = []
    page.on(
        "response",
        lambda r: answers.append((r.request.method, r.status, r.headers.get("access-control-allow-origin")))
        if r.url.startswith(api)
        else None,
    )
    log_in(page, email)  # the account page shows the profile read with the access token
    assert page.url.startswith(f"{ALLOWED_ORIGIN}/app/")
    cross_origin = [a for a in answers if a[0] != "OPTIONS"]
    assert cross_origin, "the app made no call to the API"
    assert all(allow == ALLOWED_ORIGIN for _, _, allow in cross_origin), answers
    check_page(page, "cors-allowed-origin-account")


def test_a_refused_origin_gets_no_answer_and_the_page_says_so(
    context_on: Callable[[str], BrowserContext], api: str, check_page: Callable[[Page, str], None]
) -> None:
    email = new_account(api, Mailbox(api))
    page = context_on(REFUSED_ORIGIN).new_page()
    failed: list[str] = []
    console: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url) if r.url.startswith(api) else None)
    page.on("console", lambda message: console.append(message.text))
    page.goto("login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    alert = page.get_by_role("alert").filter(has_text="could not be reached")
    expect(alert).to_be_visible()
    expect(page.get_by_role("heading", name="Log in", level=1)).to_be_visible()
    assert any(url.endswith("/v1/auth/login") for url in failed), failed
    blocked = [text for text in console if "CORS policy" in text]
    assert blocked and not any("address space" in text for text in blocked), console  # CORS, not LNA
    check_page(page, "cors-refused-origin-login")


def test_config_js_is_the_one_line_a_static_host_edits() -> None:
    """What the hosts above replace (and the README tells a host in AWS to edit) is config.js's one
    API_BASE_URL line, empty for the same origin; no other file names the API."""
    config = (WEB_DIR / "config.js").read_text()
    assert 'export const API_BASE_URL = "";' in config
    others = [p for p in WEB_DIR.rglob("*.js") if p.name != "config.js" and "vendor" not in p.parts]
    assert not [p for p in others if "execute-api" in p.read_text() or "127.0.0.1" in p.read_text()]
