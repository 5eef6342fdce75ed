"""API Gateway's part: events from HTTP requests, results back to HTTP, CORS, and the JWT
authorizer of protected routes."""

from __future__ import annotations

import base64
import binascii
import json
import os
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from local.common import (
    LOCAL_PREFIX,
    HttpResponse,
    _claim_string,
    _header_value,
    errors,
    log,
    problem_response,
    security_headers,
)
from local.http_front import Request
from local.template_model import Route
from local.web_app import is_app_path


class GatewayMixin:
    """What the HTTP API does in front of a function (part of LocalApp)."""

    def handle(self, request: Request) -> tuple[HttpResponse, str]:
        """Answer one HTTP request; also returns what answered it (for the access log)."""
        if is_app_path(request.path):
            # The static web app, as its own host would serve it: no API Gateway in front (no CORS).
            answer = self.web_app.handle(
                request.method, request.path, request.query, request.header("if-none-match")
            )
            return answer, "web app"
        origin = request.header("origin")
        if (
            self.cors is not None
            and request.method == "OPTIONS"
            and origin
            and request.header("access-control-request-method")
        ):
            return self.preflight(request), "CORS preflight"
        response, target = self._dispatch(request)
        self.apply_cors(response, origin)
        return response, target

    def _dispatch(self, request: Request) -> tuple[HttpResponse, str]:
        if request.path.startswith(LOCAL_PREFIX):
            local = self.local_route(request)
            if local is not None:
                return local, "local"
        if request.body_too_large:
            return problem_response(errors().PayloadTooLarge()), "server"
        route, path_parameters = self.router.match(request.method, unquote(request.path))
        if route is None:
            return problem_response(errors().NotFound()), "no route"
        function = self.functions[route.function_logical_id]
        event = self.build_event(request, route, path_parameters)
        if route.authorizer is not None:
            denied = self.authorize(request, event, scopes=route.scopes)
            if denied is not None:
                return denied, f"{route.authorizer} (denied)"
        try:
            result = function.invoke(event)
        except Exception:  # noqa: BLE001 - a crashed function is API Gateway's 500
            log(f"!! {route.handler} raised on {route.route_key}:")
            traceback.print_exc()
            return problem_response(errors().ServiceError()), route.function_logical_id
        finally:
            self.emails.poll()
        return self.to_http(result), route.function_logical_id

    def build_event(
        self, request: Request, route: Route, path_parameters: dict[str, str]
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers:
            lowered = name.lower()
            if lowered == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
                continue
            headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
        source_ip = request.peer
        headers["x-forwarded-for"] = (
            f"{headers['x-forwarded-for']}, {source_ip}" if "x-forwarded-for" in headers else source_ip
        )
        headers["x-forwarded-proto"] = "http"
        headers["x-forwarded-port"] = str(self.port)
        now = datetime.now(UTC)
        host = headers.get("host", f"127.0.0.1:{self.port}")
        request_id = str(uuid.uuid4())
        query: dict[str, str] = {}
        for key, value in parse_qsl(request.query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route.route_key,
            "rawPath": request.path,
            "rawQueryString": request.query,
            "headers": headers,
            "requestContext": {
                "accountId": self.account_id,
                "apiId": "local",
                "domainName": host,
                "domainPrefix": host.split(".", 1)[0].split(":", 1)[0],
                "http": {
                    "method": request.method,
                    "path": request.path,
                    "protocol": request.protocol,
                    "sourceIp": source_ip,
                    "userAgent": headers.get("user-agent", ""),
                },
                "requestId": request_id,
                "routeKey": route.route_key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_parameters:
            event["pathParameters"] = path_parameters
        if request.body:
            try:
                event["body"] = request.body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(request.body).decode("ascii")
                event["isBase64Encoded"] = True
        return event

    def to_http(self, result: Any) -> HttpResponse:
        """An API Gateway v2 (payload 2.0) Lambda result as an HTTP response."""
        if not isinstance(result, dict) or "statusCode" not in result:
            # Payload 2.0 without statusCode: API Gateway answers 200 with the value as JSON.
            body = result if isinstance(result, str) else json.dumps(result)
            return HttpResponse(200, [("Content-Type", "application/json")], body.encode("utf-8"))
        headers: list[tuple[str, str]] = []
        for name, value in (result.get("headers") or {}).items():
            headers.append((str(name), _header_value(value)))
        for name, values in (result.get("multiValueHeaders") or {}).items():
            for value in values if isinstance(values, list) else [values]:
                headers.append((str(name), _header_value(value)))
        for cookie in result.get("cookies") or []:
            headers.append(("Set-Cookie", str(cookie)))
        body = result.get("body")
        if body is None:
            payload = b""
        elif result.get("isBase64Encoded"):
            try:
                payload = base64.b64decode(body)
            except (binascii.Error, ValueError):
                log("!! the handler returned isBase64Encoded with a body that is not base64")
                return problem_response(errors().ServiceError())
        else:
            payload = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        return HttpResponse(int(result["statusCode"]), headers, payload)

    def preflight(self, request: Request) -> HttpResponse:
        """The HTTP API's answer to a preflight: CORS headers only when the origin is allowed and
        every header it asks for is among AllowHeaders (else the browser refuses the request)."""
        response = HttpResponse(204, security_headers())
        cors = self.cors
        origin = request.header("origin")
        if cors is None or not cors.origin_allowed(origin):
            return response
        if not cors.headers_allowed(request.header("access-control-request-headers")):
            return response
        response.set_header("Access-Control-Allow-Origin", self._allow_origin_value(origin or ""))
        if cors.allow_methods:
            response.set_header("Access-Control-Allow-Methods", ",".join(cors.allow_methods))
        if cors.allow_headers:
            allowed_headers = cors.allow_headers
            if "*" in allowed_headers and request.header("access-control-request-headers"):
                allowed_headers = (request.header("access-control-request-headers") or "",)
            response.set_header("Access-Control-Allow-Headers", ",".join(allowed_headers))
        if cors.max_age is not None:
            response.set_header("Access-Control-Max-Age", str(cors.max_age))
        if cors.allow_credentials:
            response.set_header("Access-Control-Allow-Credentials", "true")
        response.set_header("Vary", "Origin")
        return response

    def _allow_origin_value(self, origin: str) -> str:
        cors = self.cors
        if cors is not None and "*" in cors.allow_origins and not cors.allow_credentials:
            return "*"
        return origin

    def apply_cors(self, response: HttpResponse, origin: str | None) -> None:
        """As the HTTP API does: the integration's CORS headers are replaced by the configuration's."""
        if self.cors is None:
            return
        response.headers = [
            (k, v) for k, v in response.headers if not k.lower().startswith("access-control-")
        ]
        if not self.cors.origin_allowed(origin):
            return
        response.set_header("Access-Control-Allow-Origin", self._allow_origin_value(origin or ""))
        if self.cors.expose_headers:
            response.set_header("Access-Control-Expose-Headers", ",".join(self.cors.expose_headers))
        if self.cors.allow_credentials:
            response.set_header("Access-Control-Allow-Credentials", "true")
        vary = response.header("Vary")
        if not vary or "origin" not in vary.lower():
            response.set_header("Vary", f"{vary}, Origin" if vary else "Origin")

    def signing_keys(self) -> Any:
        """The key set of the signing secret (every key of its ring), re-read when its versions change.

        API Gateway caches the key set for a while; here it follows a rotation at once, which the
        publish-ahead period makes equivalent: no function signs with a new key before then."""
        secret_id = os.environ["SIGNING_KEY_SECRET_ID"]
        client = self.client("secretsmanager")
        versions = client.describe_secret(SecretId=secret_id).get("VersionIdsToStages") or {}
        fingerprint = json.dumps(versions, sort_keys=True)
        with self._keys_lock:
            if self._keys_cache is not None and self._keys_cache[0] == fingerprint:
                return self._keys_cache[1]
        from accounts.jwt_keys import load_signing_keys

        keys = load_signing_keys(secret_id, client)
        with self._keys_lock:
            self._keys_cache = (fingerprint, keys)
        return keys

    def authorize(
        self, request: Request, event: dict[str, Any], scopes: tuple[str, ...] = ()
    ) -> HttpResponse | None:
        """API Gateway's JWT authorizer: None if the token is good (claims put into the event).

        A route with AuthorizationScopes also needs one of them in the token's `scope` claim
        (space-separated); without it API Gateway answers 403, here the `insufficient_scope` problem."""
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return self._unauthorized("Bearer")
        try:
            from accounts.jwt_keys import verify_access_token

            claims = verify_access_token(
                token.strip(),
                self.signing_keys(),
                issuer=os.environ.get("JWT_ISSUER", ""),
                audience=os.environ.get("JWT_AUDIENCE", ""),
            )
        except Exception as error:  # noqa: BLE001 - every failure is a 401, like API Gateway
            reason = getattr(error, "reason", None) or type(error).__name__
            log(f"[authorizer] token refused: {reason}")
            return self._unauthorized('Bearer error="invalid_token"')
        granted = str(claims.get("scope") or "").split()
        if scopes and not set(scopes) & set(granted):
            log(f"[authorizer] token refused: no scope of {', '.join(scopes)}")
            return problem_response(errors().InsufficientScope())
        event["requestContext"]["authorizer"] = {
            "jwt": {
                "claims": {name: _claim_string(value) for name, value in claims.items()},
                "scopes": [scope for scope in granted if scope in scopes] if scopes else None,
            }
        }
        return None

    @staticmethod
    def _unauthorized(challenge: str) -> HttpResponse:
        return problem_response(errors().Unauthorized(), {"WWW-Authenticate": challenge})
