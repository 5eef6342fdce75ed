"""Local mode serves the reference web app at /app/ (spec section 5, v2; local/web_app.py).

A server of its own points LOCAL_WEB_DIR at a temporary web/-like folder (with a secret file next
to it, and a symbolic link to that secret inside it) and keeps an APP_BASE_URL given from the
shell; the shared server shows the defaults: the real web/ and APP_BASE_URL = <server>/app."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.e2e.helpers import raw_request

pytestmark = pytest.mark.e2e

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
INDEX_HTML = b'<!doctype html><html lang="en"><title>app</title><main id="app"></main></html>\n'
SECRET = b"not for the browser\n"
FILES: dict[str, bytes] = {
    "index.html": INDEX_HTML,
    "config.js": b'export const API_BASE_URL = "";\n',
    "styles.css": b"main { margin: 0 }\n",
    "js/app.js": b"import { API_BASE_URL } from '../config.js';\n",
    "js/module.mjs": b"export {};\n",
    "icon.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "site.webmanifest": b'{"name": "app"}\n',
    "vendor/LICENSE": b"MIT License\n",
    "vendor/blob.bin": b"\x00\x01",
    ".hidden": b"dot-file\n",
}
OVERRIDDEN_APP_BASE_URL = "http://localhost:5173"


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("web-host")
    (base / "secret.txt").write_bytes(SECRET)
    root = base / "web"
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    (root / "escape.txt").symlink_to(base / "secret.txt")
    return root


@pytest.fixture(scope="module")
def app_server(start_local_server: Callable[..., str], web_dir: Path) -> str:
    return start_local_server({"LOCAL_WEB_DIR": str(web_dir), "APP_BASE_URL": OVERRIDDEN_APP_BASE_URL})


def get(base: str, path: str, **kwargs: object) -> requests.Response:
    return requests.get(f"{base}{path}", timeout=10, allow_redirects=False, **kwargs)


def assert_app_headers(response: requests.Response) -> None:
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"  # the tokens in emailed links stay put
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/app/index.html", "text/html; charset=utf-8"),
        ("/app/config.js", "text/javascript; charset=utf-8"),
        ("/app/styles.css", "text/css; charset=utf-8"),
        ("/app/js/app.js", "text/javascript; charset=utf-8"),
        ("/app/js/module.mjs", "text/javascript; charset=utf-8"),
        ("/app/icon.svg", "image/svg+xml"),
        ("/app/site.webmanifest", "application/manifest+json"),
        ("/app/vendor/LICENSE", "text/plain; charset=utf-8"),
        ("/app/vendor/blob.bin", "application/octet-stream"),
    ],
)
def test_each_file_is_served_as_is_with_its_content_type(app_server: str, path: str, content_type: str) -> None:
    response = get(app_server, path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.content == FILES[path.removeprefix("/app/")]
    assert_app_headers(response)


@pytest.mark.parametrize(
    "path",
    [
        "/app/",
        "/app/signup",
        "/app/verify-email?token=abc.def",
        "/app/reset-password?token=abc",
        "/app/confirm-email?token=abc",
        "/app/account",
        "/app/js",  # a folder is no file: an app path
    ],
)
def test_app_paths_without_a_dot_get_index_html(app_server: str, path: str) -> None:
    response = get(app_server, path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.content == INDEX_HTML
    assert_app_headers(response)


@pytest.mark.parametrize("path", ["/app/missing.js", "/app/js/missing.css", "/app/favicon.ico"])
def test_a_missing_asset_is_404_not_the_page(app_server: str, path: str) -> None:
    response = get(app_server, path)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert_app_headers(response)


@pytest.mark.parametrize(("path", "location"), [("/app", "/app/"), ("/app?x=1", "/app/?x=1")])
def test_app_without_its_slash_redirects_permanently(app_server: str, path: str, location: str) -> None:
    response = get(app_server, path)
    assert response.status_code == 308
    assert response.headers["Location"] == location


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_get_and_head_are_allowed(app_server: str, method: str) -> None:
    response = requests.request(method, f"{app_server}/app/config.js", timeout=10)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"


def test_head_has_the_headers_of_get_and_no_body(app_server: str) -> None:
    response = requests.head(f"{app_server}/app/config.js", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len(FILES["config.js"]))
    assert response.content == b""
    assert_app_headers(response)


def test_an_unchanged_file_is_revalidated_by_etag(app_server: str) -> None:
    first = get(app_server, "/app/config.js")
    again = get(app_server, "/app/config.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/app/../secret.txt",
        "/app/js/../../secret.txt",
        "/app/%2e%2e/secret.txt",
        "/app/%2E%2E/secret.txt",
        "/app/.%2e/secret.txt",
        "/app/..%2fsecret.txt",
        "/app/..%2Fsecret.txt",
        "/app/..%5csecret.txt",
        "/app/..\\secret.txt",
        "/app/config.js%00.html",
        "/app/%00",
        "/app//etc/passwd",
        "/app/escape.txt",  # a symbolic link out of the folder
        "/app/.hidden",
        "/app/%ff%fe",
    ],
)
def test_nothing_outside_the_folder_is_reachable(app_server: str, path: str) -> None:
    status, _headers, body = raw_request(app_server, "GET", path, [("Host", "127.0.0.1")])
    assert status == 404, (path, body[:200])
    assert SECRET not in body and INDEX_HTML not in body


def test_an_app_base_url_from_the_shell_still_wins(app_server: str) -> None:
    info = requests.get(f"{app_server}/_local/info", timeout=10).json()
    assert info["environment"]["APP_BASE_URL"] == OVERRIDDEN_APP_BASE_URL


def test_the_shared_server_serves_the_real_web_folder(local_server: str) -> None:
    response = get(local_server, "/app/config.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert b"API_BASE_URL" in response.content


def test_emailed_links_open_the_app_by_default(local_server: str) -> None:
    """APP_BASE_URL defaults to <server>/app, and such a link answers the app's page."""
    email = f"app-link-{uuid.uuid4().hex[:12]}@example.com"
    registered = requests.post(
        f"{local_server}/v1/auth/register",
        json={"email": email, "password": "Correct-Horse-Battery-9"},
        timeout=10,
    )
    assert registered.status_code == 202, registered.text
    [message] = requests.get(
        f"{local_server}/_local/emails", params={"to": email, "wait": "10"}, timeout=20
    ).json()
    link = next(word for word in message["text"].split() if "/verify-email?token=" in word)
    assert link.startswith(f"{local_server}/app/verify-email?token=")
    page = get(local_server, link.removeprefix(local_server))
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
