"""The local-only routes under /_local/: emails, metrics, routes, info, cleanup, signing-key rotation,
and granting the admin role (`make admin EMAIL=...`)."""

from __future__ import annotations

import json
import math
import os
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from local.cfn import referenced_resource
from local.common import (
    INVOKE_LOCK,
    HttpResponse,
    errors,
    json_response,
    log,
    problem_response,
    security_headers,
)
from local.http_front import Request
from local.lambdas import LocalFunction
from local.mailbox import MAX_WAIT_SECONDS
from local.template_model import DEFAULT_ROUTE, Schedule


class LocalRoutesMixin:
    """The /_local/ routes and the start-up banner (part of LocalApp)."""

    def local_route(self, request: Request) -> HttpResponse | None:
        path, method = request.path.rstrip("/"), request.method
        if path == "/_local/emails" and method in ("GET", "HEAD"):
            return self.list_emails(request)
        if path == "/_local/emails" and method == "DELETE":
            self.emails.clear()
            return HttpResponse(204, security_headers())
        if path == "/_local/metrics" and method in ("GET", "HEAD"):
            return json_response(200, self.metrics.list())
        if path == "/_local/metrics" and method == "DELETE":
            self.metrics.clear()
            return HttpResponse(204, security_headers())
        if path == "/_local/cleanup" and method == "POST":
            return self.run_cleanup()
        if path == "/_local/rotate-signing-key" and method == "POST":
            return self.rotate_signing_key()
        if path == "/_local/admin" and method == "POST":
            return self.grant_admin(request)
        if path == "/_local/routes" and method in ("GET", "HEAD"):
            return json_response(200, [route.as_dict() for route in self.template.routes])
        if path == "/_local/info" and method in ("GET", "HEAD"):
            return json_response(200, self.info())
        return None

    def list_emails(self, request: Request) -> HttpResponse:
        """GET /_local/emails[?to=<address>][&wait=<seconds>] (spec section 5)."""
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        wait = 0.0
        if "wait" in query:
            try:
                wait = float(query["wait"])
            except ValueError:
                wait = math.nan
            if not 0 <= wait <= MAX_WAIT_SECONDS:  # also refuses nan and inf
                detail = f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}."
                return problem_response(errors().MalformedRequest(detail))
        return json_response(200, self.emails.list(query.get("to"), wait=wait))

    def info(self) -> dict[str, Any]:
        cors = self.cors
        return {
            "base_url": self.base_url,
            "template": str(self.template.path),
            "aws_endpoint_url": self.aws_endpoint,
            "region": self.region,
            "queues": self.queue_urls,
            "cors": None
            if cors is None
            else {
                "allow_origins": list(cors.allow_origins),
                "allow_methods": list(cors.allow_methods),
                "allow_headers": list(cors.allow_headers),
                "expose_headers": list(cors.expose_headers),
                "max_age": cors.max_age,
            },
            "functions": {
                logical_id: {"handler": f.definition.handler, "imported": f.handler is not None}
                for logical_id, f in self.functions.items()
            },
            "table": self.table_info(),
            "environment": {k: v for k, v in self.environment.items() if not k.startswith("AWS_SECRET")},
        }

    def table_info(self) -> dict[str, Any] | None:
        """The table as moto has it (to compare with template.yaml's definition)."""
        name = os.environ.get("TABLE_NAME")
        if not name or self.template.table is None:
            return None
        client = self.client("dynamodb")
        table = client.describe_table(TableName=name)["Table"]
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        return {
            "name": name,
            "key_schema": table["KeySchema"],
            "attribute_definitions": table["AttributeDefinitions"],
            "global_secondary_indexes": [
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in table.get("GlobalSecondaryIndexes", [])
            ],
            "billing_mode": (table.get("BillingModeSummary") or {}).get("BillingMode"),
            "ttl": {"attribute": ttl.get("AttributeName"), "status": ttl.get("TimeToLiveStatus")},
        }

    def run_cleanup(self) -> HttpResponse:
        schedules = self.template.schedules
        if not schedules:
            return problem_response(errors().NotFound("The template has no scheduled function."))
        schedule = schedules[0]
        function = self.functions[schedule.function_logical_id]
        event = self.scheduled_event(schedule)
        try:
            result = function.invoke(event)
        except Exception:  # noqa: BLE001
            log(f"!! {function.definition.handler} raised:")
            traceback.print_exc()
            return problem_response(errors().ServiceError("The cleanup run failed."))
        finally:
            self.emails.poll()
        return json_response(200, result)

    def grant_admin(self, request: Request) -> HttpResponse:
        """POST /_local/admin {"email": ...}: what scripts/grant_admin.py does in AWS, with the same
        layer code (accounts.flows.admin.grant_admin) against this server's table."""
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        email = body.get("email") if isinstance(body, dict) else None
        if not isinstance(email, str):
            return problem_response(errors().MalformedRequest('The body must be {"email": "<address>"}.'))
        from accounts.flows.admin import grant_admin
        from accounts.services import get_services

        try:
            with INVOKE_LOCK:  # the handlers' shared state (settings, clients) is used one at a time
                granted = grant_admin(get_services().repo, email)
        except ValueError as error:
            refusal = errors().ValidationFailed(errors=[{"field": "email", "message": str(error)}])
            return problem_response(refusal)
        except errors().ServiceError as error:
            return problem_response(error)
        log(f"[admin] admin role granted to user {granted['user_id']} (their next token carries the scope)")
        return json_response(200, granted)

    def rotation_function(self) -> LocalFunction | None:
        """The function a RotationSchedule of the template names (else the one whose handler is
        rotate_signing_key.lambda_handler)."""
        for schedule in self.template.resources_of_type("AWS::SecretsManager::RotationSchedule").values():
            target = referenced_resource((schedule.get("Properties") or {}).get("RotationLambdaARN"))
            if target in self.functions:
                return self.functions[target]
        handler = "rotate_signing_key.lambda_handler"
        return next((f for f in self.functions.values() if f.definition.handler.endswith(handler)), None)

    def rotate_signing_key(self) -> HttpResponse:
        """What Secrets Manager does for a rotation: stage a new empty AWSPENDING version under a new
        ClientRequestToken, then invoke the rotation function's four steps with that token."""
        function = self.rotation_function()
        secret_id = os.environ.get("SIGNING_KEY_SECRET_ID")
        if function is None or not secret_id:
            return problem_response(errors().NotFound("The template has no signing-key rotation function."))
        token = str(uuid.uuid4())
        try:
            self._begin_rotation(secret_id, token, function)
            for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
                function.invoke({"Step": step, "SecretId": secret_id, "ClientRequestToken": token})
        except Exception:  # noqa: BLE001
            log(f"!! {function.definition.handler} raised:")
            traceback.print_exc()
            return problem_response(errors().ServiceError("The signing-key rotation failed."))

        from accounts import jwt_keys

        # The functions' containers re-read the keys every SIGNING_KEY_CACHE_SECONDS; local mode
        # has one "container", which forgets them now so the key set shows the new key at once.
        jwt_keys.get_signing_keys.cache_clear()
        keys = self.signing_keys()
        now = int(time.time())
        new_key = keys.ring[-1]
        log(f"[rotation] signing key {new_key.kid} published, signs from {new_key.not_before}")
        return json_response(
            200,
            {
                "version_id": token,
                "published_kids": list(keys.public_keys),
                "signing_kid": keys.signing_key(now).kid,
                "new_kid": new_key.kid,
                "new_key_signs_from": new_key.not_before,
            },
        )

    def _begin_rotation(self, secret_id: str, token: str, function: LocalFunction) -> None:
        """Rotation metadata and the empty AWSPENDING version, set on moto's backend directly: moto's
        RotateSecret would invoke the function only through its own Lambda emulation (Docker), and
        without a function it promotes the empty version at once."""
        from moto.secretsmanager.models import secretsmanager_backends

        name = self.client("secretsmanager").describe_secret(SecretId=secret_id)["Name"]
        secret = secretsmanager_backends[self.account_id][self.region].secrets[name]
        secret.rotation_enabled = True
        secret.rotation_requested = True
        secret.rotation_lambda_arn = (
            f"arn:aws:lambda:{self.region}:{self.account_id}:function:{function.name}"
        )
        secret.remove_version_stages_from_old_versions(["AWSPENDING"])
        secret.versions[token] = {
            "createdate": int(time.time()),
            "version_id": token,
            "version_stages": ["AWSPENDING"],
        }

    def scheduled_event(self, schedule: Schedule) -> Any:
        if schedule.input is not None:
            return json.loads(schedule.input) if isinstance(schedule.input, str) else schedule.input
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [
                f"arn:aws:events:{self.region}:{self.account_id}:rule/{schedule.function_logical_id}"
            ],
            "detail": {},
        }

    def banner(self) -> str:
        lines = [
            "",
            f"Accounts API (local mode) on {self.base_url}",
            f"  web app   {self.base_url}/app/  (sign up, log in, the account page; from {self.web_app.root})",
            f"  template  {self.template.path}",
            f"  AWS       moto on {self.aws_endpoint} (region {self.region}); nothing reaches AWS",
            "  routes",
        ]
        for route in self.template.routes:
            method = route.method if route.path != DEFAULT_ROUTE else "*"
            scopes = f", scopes {' '.join(route.scopes)}" if route.scopes else ""
            extra = f"  [JWT authorizer {route.authorizer}{scopes}]" if route.authorizer else ""
            lines.append(
                f"    {method:<7} {route.path:<38} -> {route.function_logical_id} ({route.handler}){extra}"
            )
        cors = self.cors
        lines.append(f"  CORS      {', '.join(cors.allow_origins) if cors else 'not configured'}")
        lines.append(f"  emails    printed here, listed at {self.base_url}/_local/emails")
        lines.append(f"  metrics   what the handlers emitted (EMF), summed at {self.base_url}/_local/metrics")
        lines.append(f"  cleanup   curl -X POST {self.base_url}/_local/cleanup")
        lines.append(f"  rotation  curl -X POST {self.base_url}/_local/rotate-signing-key")
        lines.append(f"  admin     make admin EMAIL=<address> PORT={self.port}")
        lines.append(
            f"  links     {os.environ.get('APP_BASE_URL', '')}/verify-email?token=... (APP_BASE_URL)"
        )
        lines.append("Press Ctrl+C to stop.")
        return "\n".join(lines)
