"""The routes the HTTP API declares (template.yaml; a template test keeps the two equal).

API Gateway sends every request that matches no declared route to the `$default` route, whether the
path is unknown or only the method is wrong; this table lets that route tell the two apart: 404 for
an unknown path, 405 with `Allow` for a known path asked with another method."""

from __future__ import annotations

from accounts.rate_limits import LOGIN_PER_IP, MAIL_PER_IP, REGISTER_PER_IP, TOKEN_PER_IP, IpLimit

ROUTES: dict[str, tuple[str, ...]] = {
    "/v1/auth/register": ("POST",),
    "/v1/auth/verify-email": ("POST",),
    "/v1/auth/verify-email/resend": ("POST",),
    "/v1/auth/password-reset": ("POST",),
    "/v1/auth/password-reset/confirm": ("POST",),
    "/v1/auth/login": ("POST",),
    "/v1/auth/login/mfa": ("POST",),
    "/v1/auth/refresh": ("POST",),
    "/v1/auth/logout": ("POST",),
    "/v1/auth/me": ("GET", "PATCH", "DELETE"),
    "/v1/auth/password": ("POST",),
    "/v1/auth/email": ("POST",),
    "/v1/auth/email/confirm": ("POST",),
    "/v1/auth/sessions": ("GET",),
    "/v1/auth/sessions/{session_id}": ("DELETE",),
    "/v1/auth/me/events": ("GET",),
    "/v1/auth/mfa/totp": ("POST", "DELETE"),
    "/v1/auth/mfa/totp/confirm": ("POST",),
    "/.well-known/jwks.json": ("GET",),
    "/.well-known/openid-configuration": ("GET",),
    "/v1/admin/users/{user_ref}": ("GET",),
    "/v1/admin/users/{user_id}/disable": ("POST",),
    "/v1/admin/users/{user_id}/enable": ("POST",),
    "/v1/admin/users/{user_id}/sessions/revoke": ("POST",),
    "/v1/admin/verification-reminders": ("POST",),
}

# The per-IP limit of each rate-limited route (by API Gateway route key): every answer of these
# routes carries RateLimit-*, also the refusals that come before the flow counts the request.
RATE_LIMITED: dict[str, IpLimit] = {
    "POST /v1/auth/register": REGISTER_PER_IP,
    "POST /v1/auth/verify-email": TOKEN_PER_IP,
    "POST /v1/auth/verify-email/resend": MAIL_PER_IP,
    "POST /v1/auth/password-reset": MAIL_PER_IP,
    "POST /v1/auth/password-reset/confirm": TOKEN_PER_IP,
    "POST /v1/auth/login": LOGIN_PER_IP,
    "POST /v1/auth/login/mfa": TOKEN_PER_IP,
    "POST /v1/auth/email/confirm": TOKEN_PER_IP,
}


# Request bodies are at most 16 KiB (spec section 2), except where a route's own cap must be the
# answer: an admin's over-long reminder list is a 422 naming the cap of 100 addresses (issue 8), not
# a 413 that says nothing about it. 1 MiB still bounds the parse (a few milliseconds).
DEFAULT_BODY_LIMIT = 16 * 1024
BODY_LIMITS: dict[str, int] = {
    "POST /v1/admin/verification-reminders": 1024 * 1024,
}


def body_limit(route_key: str) -> int:
    """The largest request body a route accepts, in bytes."""
    return BODY_LIMITS.get(route_key, DEFAULT_BODY_LIMIT)


def _matches(template: str, path: str) -> bool:
    """`{name}` in a route path matches one non-empty segment, as in API Gateway."""
    pattern, parts = template.split("/"), path.split("/")
    return len(pattern) == len(parts) and all(
        (p.startswith("{") and p.endswith("}") and part) or p == part for p, part in zip(pattern, parts, strict=True)
    )


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods declared for `path` (empty when no route has that path)."""
    return tuple(sorted({m for template, methods in ROUTES.items() if _matches(template, path) for m in methods}))
