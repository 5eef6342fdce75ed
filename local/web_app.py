"""The reference web app (`web/`) at /app/, served as a static host in AWS would serve it.

Hosting rule (the same one CloudFront or an S3 website follows, see the README):
* a request for a file that exists under the web folder gets that file;
* any other path under /app/ whose last segment has no dot gets `index.html` (the single-page
  app routes on the client: /app/verify-email?token=... is the page an emailed link opens);
* anything else is 404; `/app` redirects (308) to `/app/`.

Only GET and HEAD (405 with Allow otherwise). Paths that try to leave the folder or smuggle a
separator (`..`, `%2e%2e`, `%2f`, `%5c`, a backslash, NUL, dot-files) are 404 without touching
the file system. Every answer carries the app's Content-Security-Policy, which the app is built
to work under (no inline scripts or styles), and `Cache-Control: no-cache` (edits show at once,
revalidated by ETag). The folder is `web/` in the repository, or `LOCAL_WEB_DIR`.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from urllib.parse import unquote

from local import template as tpl
from local.common import HttpResponse, errors, problem_response, security_headers

APP_PATH = tpl.LOCAL_APP_PATH
INDEX = "index.html"
DEFAULT_WEB_DIR = tpl.REPO_ROOT / "web"

# The API is on the same origin locally; a static host with the API elsewhere adds its origin
# to connect-src (see the README's hosting section).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
# Files without an extension (vendored LICENSE files) are text; anything unknown is opaque bytes.
EXTENSIONLESS_TYPE = "text/plain; charset=utf-8"
UNKNOWN_TYPE = "application/octet-stream"
ALLOWED_METHODS = ("GET", "HEAD")
# Encoded dots, slashes and backslashes, and NUL: refused before decoding, whatever the case.
_SMUGGLED = re.compile(r"%(2e|2f|5c|00)", re.IGNORECASE)


def is_app_path(path: str) -> bool:
    return path == APP_PATH or path.startswith(APP_PATH + "/")


def content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if not suffix:
        return EXTENSIONLESS_TYPE
    return CONTENT_TYPES.get(suffix, UNKNOWN_TYPE)


def app_headers(content: str | None = None) -> list[tuple[str, str]]:
    """The API's security headers, with the app's CSP and caching instead of the API's."""
    headers = [
        (k, v)
        for k, v in security_headers()
        if k.lower() not in ("content-security-policy", "cache-control")
    ]
    headers += [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("Cache-Control", "no-cache"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if content is not None:
        headers.insert(0, ("Content-Type", content))
    return headers


def _not_found() -> HttpResponse:
    response = problem_response(errors().NotFound())
    for name, value in app_headers():
        response.set_header(name, value)
    return response


class WebApp:
    """Answers every request under /app for the files of one folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root or os.environ.get("LOCAL_WEB_DIR") or DEFAULT_WEB_DIR).resolve()

    def handle(self, method: str, raw_path: str, query: str, if_none_match: str | None) -> HttpResponse:
        if method not in ALLOWED_METHODS:
            return HttpResponse(405, [("Allow", ", ".join(ALLOWED_METHODS)), *app_headers()])
        if raw_path == APP_PATH:
            location = APP_PATH + "/" + (f"?{query}" if query else "")
            return HttpResponse(308, [("Location", location), *app_headers()])
        relative = self._relative(raw_path[len(APP_PATH) + 1 :])
        if relative is None:
            return _not_found()
        file = self._file(relative)
        if file is None:
            last = relative[-1] if relative else ""
            if "." in last:
                return _not_found()  # a missing asset, not an app page
            file = self._file([INDEX])
            if file is None:
                return _not_found()
        return self._file_response(file, if_none_match)

    @staticmethod
    def _relative(raw: str) -> list[str] | None:
        """The path's segments under the folder, or None for anything that could leave it."""
        if _SMUGGLED.search(raw) or "\\" in raw or "\x00" in raw:
            return None
        try:
            segments = unquote(raw, errors="strict").split("/") if raw else [""]
        except UnicodeDecodeError:
            return None
        *parents, last = segments
        for segment in parents:
            if not segment or segment.startswith("."):
                return None  # empty ('//'), '.', '..' and hidden folders
        if last.startswith("."):
            return None  # dot-files (a backslash or NUL cannot be here: refused before decoding)
        return segments

    def _file(self, segments: list[str]) -> Path | None:
        if not segments or not segments[-1]:
            return None
        candidate = self.root.joinpath(*segments)
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            return None
        # A symbolic link may not lead out of the folder.
        if self.root not in resolved.parents or not resolved.is_file():
            return None
        return resolved

    @staticmethod
    def _file_response(file: Path, if_none_match: str | None) -> HttpResponse:
        body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = [*app_headers(content_type(file.name)), ("ETag", etag)]
        if if_none_match and etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]:
            return HttpResponse(304, headers)
        return HttpResponse(200, headers, body)
