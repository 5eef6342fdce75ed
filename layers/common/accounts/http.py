"""HTTP plumbing shared by every API function: the resolver, problem responses (RFC 9457), the
spec's security headers, CORS, and the checks that come before any route runs (body size,
content type, JSON object). Errors become HTTP in this one place."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from accounts import errors
from accounts.observability import count, logger
from accounts.routes import RATE_LIMITED, allowed_methods, body_limit
from accounts.services import get_services
from accounts.settings import get_settings

MAX_NESTING = 32  # levels of arrays and objects, the top-level object being the first
PROBLEM_JSON = "application/problem+json"
JSON = "application/json"

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
EXPOSED_HEADERS = "Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"

# AWS error codes that mean "throttled or briefly unavailable": answered 503 + Retry-After.
_UNAVAILABLE_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionInProgressException",
    "TransactionConflictException",
}


def problem(error: errors.ServiceError) -> Response:
    body: dict[str, Any] = {
        "type": f"https://docs.accounts.dev/problems/{error.code.replace('_', '-')}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
    }
    if error.errors is not None:
        body["errors"] = error.errors
    body.update(getattr(error, "extra", None) or {})  # mfa_required's mfa_token
    headers = dict(error.headers)
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if error.status == 401 and error.code == "unauthorized":
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return Response(status_code=error.status, content_type=PROBLEM_JSON, body=json.dumps(body), headers=headers)


def json_response(status: int, payload: Any, limits: Any = None) -> Response:
    """A JSON response (validated against the route's return annotation), with the RateLimit-*
    headers of `limits` (a rate_limits.LimitState) when the route is rate limited."""
    return Response(status_code=status, content_type=JSON, body=payload, headers=limits.headers() if limits else {})


def _aws_error_code(error: BaseException) -> str | None:
    """The AWS error code behind a botocore or pynamodb exception, if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            return response["Error"]["Code"]
        current = getattr(current, "cause", None) or current.__cause__
    return None


def is_unavailable(error: BaseException) -> bool:
    from botocore.exceptions import ConnectionError as BotoConnectionError

    return isinstance(error, BotoConnectionError) or _aws_error_code(error) in _UNAVAILABLE_CODES


def _field_errors(validation: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for item in validation.errors():
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        field = ".".join(location) or "body"
        message = "unknown field" if item.get("type") == "extra_forbidden" else str(item.get("msg", "invalid"))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        fields.append({"field": field, "message": message})
    return fields


def new_app() -> APIGatewayHttpResolver:
    """A resolver with request validation on and every error mapped to a problem response."""
    app = APIGatewayHttpResolver(enable_validation=True)

    @app.exception_handler(errors.ServiceError)
    def _service_error(error: errors.ServiceError) -> Response:
        if error.status == 429:
            count("RateLimited")
        return problem(error)

    @app.exception_handler(RequestValidationError)
    def _validation_error(error: RequestValidationError) -> Response:
        fields = _field_errors(error)
        if any(item.get("type") in ("json_invalid", "model_attributes_type", "dict_type") and
               [p for p in item.get("loc", ()) if p != "body"] == [] for item in error.errors()):
            return problem(errors.MalformedRequest())
        return problem(errors.ValidationFailed(errors=fields))

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response:
        # The precheck refuses these first; this keeps the framework's own 415 body from ever leaking.
        return problem(errors.UnsupportedMediaType())

    @app.not_found
    def _not_found(_: Exception) -> Response:
        allow = allowed_methods(app.current_event.path)
        if allow:
            return problem(errors.MethodNotAllowed(headers={"Allow": ", ".join(allow)}))
        return problem(errors.NotFound())

    return app


def _is_json(content_type: str) -> bool:
    """`application/json`, in UTF-8 if a charset is named; every other type (`+json` ones too) is 415."""
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != JSON:
        return False
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return False
    return True


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest deeper than `limit`, walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _precheck(event: dict[str, Any]) -> errors.ServiceError | None:
    """What must be refused before routing: too large, not JSON, not a JSON object. Not for GET
    routes or the `$default` route, which never read a body (the latter answers 404 or 405)."""
    method = event.get("requestContext", {}).get("http", {}).get("method")
    if event.get("routeKey") == "$default" or method in ("GET", "HEAD"):
        return None
    body = event.get("body")
    if body is None or body == "":
        return errors.MalformedRequest("The request needs a JSON object body.") if method == "POST" else None
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    limit = body_limit(event.get("routeKey", ""))
    if len(raw) > limit:
        return errors.PayloadTooLarge(f"The request body must not exceed {limit // 1024} KiB.")
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "")
    if content_type and not _is_json(content_type):
        return errors.UnsupportedMediaType()
    try:
        text = raw.decode("utf-8")
        parsed = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        return errors.MalformedRequest("The body is not valid JSON.")
    except RecursionError:  # nested beyond the interpreter's recursion limit
        return errors.MalformedRequest(f"The body is nested deeper than {MAX_NESTING} levels.")
    if not isinstance(parsed, dict):
        return errors.MalformedRequest()
    if _nested_deeper_than(parsed, MAX_NESTING):
        return errors.MalformedRequest(f"The body is nested deeper than {MAX_NESTING} levels.")
    # Hand the resolver the decoded text (validation never sees base64) and one spelling of the
    # content type (the framework compares it case-sensitively).
    event["body"] = text
    event["isBase64Encoded"] = False
    event["headers"] = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
    event["headers"]["content-type"] = JSON
    return None


def _as_result(response: Response) -> dict[str, Any]:
    headers = {"Content-Type": response.headers.get("Content-Type", PROBLEM_JSON)}
    headers.update({k: v for k, v in response.headers.items() if isinstance(v, str)})
    return {"statusCode": response.status_code, "headers": headers, "body": response.body, "isBase64Encoded": False}


def _with_rate_limit(result: dict[str, Any], event: dict[str, Any]) -> None:
    """A rate-limited route's answer that never reached its counter (refused before the flow ran,
    or failed without the flow's state) reports the counter as it stands: one read, no count."""
    kind = RATE_LIMITED.get(event.get("routeKey", ""))
    headers = result.setdefault("headers", {})
    if kind is None or "RateLimit-Limit" in headers or result["statusCode"] == 503:
        return
    try:
        services = get_services()
        ip = event["requestContext"]["http"]["sourceIp"]
        state = services.limiter.peek_ip(kind, ip, services.settings, now=services.now())
    except Exception:  # noqa: BLE001 - best effort: the answer itself must still go out
        logger.warning("rate limit state unavailable for the answer's headers")
        return
    if state is not None:
        headers.update(state.headers())


def _finish(result: dict[str, Any], event: dict[str, Any], allowed_origins: Callable[[], frozenset[str]]) -> dict:
    headers = {k: v for k, v in (result.get("headers") or {}).items() if not k.lower().startswith("access-control-")}
    headers.update(SECURITY_HEADERS)
    origin = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "origin"), None)
    if origin:
        try:
            allowed = origin.rstrip("/") in allowed_origins()
        except Exception:  # noqa: BLE001 - bad configuration is reported elsewhere
            allowed = False
        if allowed:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            headers["Vary"] = "Origin"
    result["headers"] = headers
    return result


def handle(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run one API Gateway v2 event through `app` with the checks and headers every route needs."""

    def allowed_origins() -> frozenset[str]:
        return get_settings().allowed_origins

    try:
        refused = _precheck(event)
        result = _as_result(problem(refused)) if refused else app.resolve(event, context)
    except errors.ServiceError as error:
        result = _as_result(problem(error))
    except Exception as error:  # noqa: BLE001 - last line of defence: never a stack trace out
        if is_unavailable(error):
            logger.warning("dependency unavailable", extra={"error_code": _aws_error_code(error)})
            count("DependencyUnavailable")
            result = _as_result(problem(errors.ServiceUnavailable(retry_after=1)))
        else:
            logger.exception("unhandled error")
            count("UnhandledErrors")
            result = _as_result(problem(errors.ServiceError()))
    _with_rate_limit(result, event)
    return _finish(result, event, allowed_origins)


def source_ip(app: APIGatewayHttpResolver) -> str:
    """API Gateway's view of the caller, never a client-supplied header."""
    return app.current_event.request_context.http.source_ip


def user_agent(app: APIGatewayHttpResolver) -> str | None:
    """The caller's User-Agent as API Gateway received it (recorded on sessions and events)."""
    return app.current_event.request_context.http.user_agent or None
