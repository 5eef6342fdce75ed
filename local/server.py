"""Local mode: the whole API on http://127.0.0.1:$PORT with no AWS account and no Docker.

    python -m local.server [--template PATH] [--port N] [--host ADDRESS]

What it does (product spec, section 5):

* starts moto in server mode in this process and points every boto3 client at it through the
  ordinary endpoint setting (AWS_ENDPOINT_URL), then creates the table (from template.yaml's own
  definition), the email queue and its dead-letter queue, the signing-key secret (a key ring
  with one fresh RSA key that signs at once), the SES identity of EMAIL_FROM and the SES
  configuration set;
* imports every function's handler module into this process and routes exactly the routes that
  template.yaml declares, with API Gateway HTTP API (payload 2.0) events built from the real
  HTTP request, the HTTP API's CORS configuration, and the JWT authorizer emulated;
* drains the email queue continuously with the SQS-triggered worker, as Lambda's event source
  mapping would, and prints every email SES "sent"; they are listed at GET /_local/emails.

Local-only routes: GET /_local/emails[?to=address], DELETE /_local/emails, POST /_local/cleanup,
POST /_local/rotate-signing-key, GET /_local/routes, GET /_local/info.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import importlib
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parseaddr
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local import template as tpl

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
LOCAL_PREFIX = "/_local/"
PROBLEM_JSON = "application/problem+json"



def security_headers() -> list[tuple[str, str]]:
    """The spec's headers, from the layer (imported late: the layer joins sys.path at start)."""
    from accounts.http import SECURITY_HEADERS

    return list(SECURITY_HEADERS.items())


_LINK = re.compile(r"https?://[^\s<>\"')\]]+")

# One handler invocation at a time, as if every function had a single warm container. The
# handlers keep per-invocation state in module globals (the Powertools resolver's current event,
# the shared metrics set), which Lambda never shares between concurrent invocations; running two
# invocations at once in one interpreter would mix them up. HTTP requests are still accepted
# concurrently; they queue here.
INVOKE_LOCK = threading.RLock()


def log(message: str) -> None:
    print(message, flush=True)


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----------------------------------------------------------------------------- responses


class HttpResponse:
    """Status, headers (a list, so Set-Cookie may repeat) and body bytes."""

    def __init__(self, status: int, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> None:
        self.status = status
        self.headers: list[tuple[str, str]] = list(headers)
        self.body = body

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def set_header(self, name: str, value: str) -> None:
        self.remove_header(name)
        self.headers.append((name, value))

    def remove_header(self, name: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]


def json_response(status: int, payload: Any, *, content_type: str = "application/json") -> HttpResponse:
    body = json.dumps(payload, indent=None, ensure_ascii=False).encode("utf-8")
    return HttpResponse(status, [("Content-Type", content_type), *security_headers()], body)


def problem_response(error: Any, extra_headers: dict[str, str] | None = None) -> HttpResponse:
    """A problem+json answer produced by the local server itself: the service's own document for
    an accounts.errors.ServiceError, so local refusals look exactly like the handlers' ones."""
    from accounts.http import problem

    response = problem(error)
    answer = HttpResponse(error.status, [("Content-Type", PROBLEM_JSON), *security_headers()], response.body.encode())
    for name, value in {**response.headers, **(extra_headers or {})}.items():
        if name.lower() != "content-type":
            answer.set_header(name, value)
    return answer


# ----------------------------------------------------------------------------- Lambda side


class LambdaContext:
    """The few attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(
        self, function_name: str, memory_mb: int, timeout_s: int, region: str, account_id: str
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One function of the template, imported into this process."""

    def __init__(self, app: LocalApp, definition: tpl.Function) -> None:
        self.app = app
        self.definition = definition
        self.logical_id = definition.logical_id
        self.name = app.template.function_name(definition.logical_id)
        self.handler: Callable[[Any, Any], Any] | None = None
        self.import_error: BaseException | None = None

    def load(self) -> None:
        code_dir = str(self.app.template.code_dir(self.definition))
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        try:
            module = importlib.import_module(self.definition.module)
            self.handler = getattr(module, self.definition.attribute)
            self.import_error = None
        except BaseException as error:  # noqa: BLE001 - reported, and answered 500 per request
            self.handler = None
            self.import_error = error
            log(f"!! cannot import {self.definition.handler} ({self.logical_id}):")
            traceback.print_exc()

    def invoke(self, event: Any) -> Any:
        if self.handler is None:
            self.load()  # retry: the developer may have fixed the module meanwhile
            if self.handler is None:
                raise RuntimeError(f"{self.definition.handler} cannot be imported") from self.import_error
        context = LambdaContext(
            self.name,
            self.definition.memory_size,
            self.definition.timeout,
            self.app.region,
            self.app.account_id,
        )
        with INVOKE_LOCK:
            return self.handler(event, context)


# ----------------------------------------------------------------------------- emails


class EmailLog:
    """Emails that moto's SES accepted, read from its backend in this process."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()
        self._seen = 0
        self.emails: list[dict[str, Any]] = []

    def _backend(self) -> Any:
        from moto.ses.models import ses_backends

        return ses_backends[self.account_id][self.region]

    def poll(self) -> None:
        with self._lock:
            sent = list(self._backend().sent_messages)
            new, self._seen = sent[self._seen :], len(sent)
            for message in new:
                record = self._record(message)
                self.emails.append(record)
                self._print(record)

    @staticmethod
    def _record(message: Any) -> dict[str, Any]:
        """The mailer sends Raw MIME through SES v2; moto keeps it whole in `raw_data`."""
        parsed = parse_raw(message.raw_data)
        return {
            "to": list(parsed["to"] or message.destinations),
            "subject": parsed["subject"],
            "text": parsed["text"],
            "html": parsed["html"],
            "sent_at": utc_now_iso(),
        }

    @staticmethod
    def _print(record: dict[str, Any]) -> None:
        links = _LINK.findall(record["text"]) or _LINK.findall(record["html"])
        lines = [f"[email] to {', '.join(record['to'])}: {record['subject']}"]
        lines += [f"        {link}" for link in dict.fromkeys(links)]
        log("\n".join(lines))

    def list(self, to: str | None = None) -> list[dict[str, Any]]:
        self.poll()
        with self._lock:
            emails = list(self.emails)
        if to:
            wanted = to.strip().casefold()
            emails = [e for e in emails if any(parseaddr(a)[1].casefold() == wanted for a in e["to"])]
        return emails

    def clear(self) -> None:
        self.poll()
        with self._lock:
            self.emails.clear()


def parse_raw(raw: str | bytes) -> dict[str, Any]:
    from accounts.mailer import parse_raw as parse

    return parse(raw)


# ----------------------------------------------------------------------------- SQS worker


class QueueDrainer(threading.Thread):
    """Lambda's SQS event source mapping: receive, invoke, delete what succeeded."""

    def __init__(self, app: LocalApp, function: LocalFunction, subscription: tpl.QueueSubscription) -> None:
        super().__init__(name=f"drain-{subscription.queue_logical_id}", daemon=True)
        self.app = app
        self.function = function
        self.subscription = subscription
        self.queue_url = app.queue_urls[subscription.queue_logical_id or ""]
        self.queue_arn = app.queue_arns[subscription.queue_logical_id or ""]
        self.stopping = threading.Event()
        self.client = app.client("sqs")

    def run(self) -> None:
        client = self.client
        while not self.stopping.is_set():
            try:
                response = client.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=max(1, min(10, self.subscription.batch_size)),
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception as error:  # noqa: BLE001 - keep draining; moto may be stopping
                if self.stopping.is_set():
                    return
                log(f"!! receiving from {self.queue_url} failed: {error}")
                time.sleep(0.5)
                continue
            messages = response.get("Messages") or []
            if messages:
                self._process(client, messages)
            self.app.emails.poll()

    def _process(self, client: Any, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        failed: set[str] | None
        try:
            result = self.function.invoke(event)
        except Exception:  # noqa: BLE001 - the whole batch stays on the queue, as in Lambda
            log(f"!! {self.function.definition.handler} raised; the batch will be retried:")
            traceback.print_exc()
            failed = None
        else:
            failed = self._failures(result, {m["MessageId"] for m in messages})
        if failed is None:
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        if failed:
            log(f"[queue] {len(failed)} message(s) reported failed; they will be retried")

    def _failures(self, result: Any, message_ids: set[str]) -> set[str] | None:
        """Ids to keep on the queue (None: the whole batch), read like Lambda reads the response."""
        if not self.subscription.report_batch_item_failures:
            return set()
        if not isinstance(result, dict) or not result.get("batchItemFailures"):
            return set()
        failures = result["batchItemFailures"]
        if not isinstance(failures, list):
            return None
        ids = set()
        for item in failures:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not identifier or identifier not in message_ids:
                return None  # Lambda treats a malformed response as a failure of the whole batch
            ids.add(identifier)
        return ids

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = dict(message.get("Attributes") or {})
        attributes.setdefault("ApproximateReceiveCount", "1")
        attributes.setdefault("SentTimestamp", str(int(time.time() * 1000)))
        attributes.setdefault("SenderId", "AIDAIENQZJOLO23YVJ4VO")
        attributes.setdefault("ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000)))
        message_attributes = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            binary = value.get("BinaryValue")
            message_attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value.get("DataType"),
            }
            if message_attributes[name]["binaryValue"] is None:
                del message_attributes[name]["binaryValue"]
            if message_attributes[name]["stringValue"] is None:
                del message_attributes[name]["stringValue"]
        body = message.get("Body", "")
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.app.region,
        }


# ----------------------------------------------------------------------------- routing


def _match_path(template_path: str, path: str) -> dict[str, str] | None:
    """Path parameters if `path` matches the route path ({name} = one segment, {name+} = the rest)."""
    pattern_parts, parts = template_path.split("/"), path.split("/")
    params: dict[str, str] = {}
    for index, pattern in enumerate(pattern_parts):
        if pattern.startswith("{") and pattern.endswith("+}"):
            rest = "/".join(parts[index:])
            if not rest:
                return None
            params[pattern[1:-2]] = rest
            return params
        if index >= len(parts):
            return None
        if pattern.startswith("{") and pattern.endswith("}"):
            if not parts[index]:
                return None
            params[pattern[1:-1]] = parts[index]
        elif pattern != parts[index]:
            return None
    return params if len(parts) == len(pattern_parts) else None


def _specificity(route: tpl.Route, method: str) -> tuple[int, int, int, int]:
    segments = route.path.strip("/").split("/")
    greedy = any(s.endswith("+}") for s in segments)
    literal = sum(1 for s in segments if not s.startswith("{"))
    return (0 if greedy else 1, literal, len(segments), 1 if route.method == method else 0)


class Router:
    def __init__(self, routes: list[tpl.Route]) -> None:
        self.routes = [r for r in routes if r.path != tpl.DEFAULT_ROUTE]
        self.default = next((r for r in routes if r.path == tpl.DEFAULT_ROUTE), None)

    def match(self, method: str, path: str) -> tuple[tpl.Route | None, dict[str, str]]:
        best: tuple[tuple[int, int, int, int], tpl.Route, dict[str, str]] | None = None
        for route in self.routes:
            if route.method not in (method, "ANY"):
                continue
            params = _match_path(route.path, path)
            if params is None:
                continue
            key = _specificity(route, method)
            if best is None or key > best[0]:
                best = (key, route, params)
        if best is not None:
            return best[1], best[2]
        return self.default, {}


# ----------------------------------------------------------------------------- the application


class LocalApp:
    def __init__(self, template_path: str | os.PathLike[str], *, host: str, port: int) -> None:
        self.template_path = Path(template_path)
        self.host = host
        self.port = port
        self.region = os.environ["AWS_DEFAULT_REGION"]
        self.account_id = tpl.DEFAULT_ACCOUNT_ID
        self.template = tpl.Template(self.template_path, region=self.region, account_id=self.account_id)
        self.functions: dict[str, LocalFunction] = {}
        self.router = Router([])
        self.queue_urls: dict[str, str] = {}
        self.queue_arns: dict[str, str] = {}
        self.cors: tpl.Cors | None = None
        self.emails = EmailLog(self.account_id, self.region)
        self.drainers: list[QueueDrainer] = []
        self.environment: dict[str, str] = {}
        self._keys_cache: tuple[Any, Any] | None = None
        self._keys_lock = threading.Lock()
        self.moto: Any = None
        self.aws_endpoint = ""
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    def client(self, service: str) -> Any:
        """One boto3 client per service for the server's own calls (clients are thread-safe; creating
        them from several threads at once is not)."""
        with self._clients_lock:
            if service not in self._clients:
                import boto3

                self._clients[service] = boto3.session.Session().client(service, region_name=self.region)
            return self._clients[service]

    # ------------------------------------------------------------------ start-up

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def start_moto(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.aws_endpoint = f"http://{host}:{port}"
        # Before any handler module is imported: every boto3 client (and pynamodb's) reads it.
        os.environ["AWS_ENDPOINT_URL"] = self.aws_endpoint

    def local_defaults(self) -> dict[str, str]:
        """Values for variables whose template value is unusable locally (the shell still wins)."""
        template = self.template
        defaults = {
            "APP_BASE_URL": tpl.LOCAL_APP_BASE_URL,
            "JWT_ISSUER": self.base_url,
            "EMAIL_FROM": tpl.LOCAL_EMAIL_FROM,
        }
        parameters = template.parameter_variables()
        audience_parameter = parameters.get("JWT_AUDIENCE")
        audience = template.parameters.get(audience_parameter) if audience_parameter else None
        defaults["JWT_AUDIENCE"] = audience or tpl.LOCAL_JWT_AUDIENCE
        cors_parameter = parameters.get("CORS_ALLOWED_ORIGINS")
        cors_default = template.parameter_defaults.get(cors_parameter) if cors_parameter else None
        if not cors_default:
            # No origins in the template: allow the local frontend (APP_BASE_URL's origin).
            app_url = os.environ.get("APP_BASE_URL", defaults["APP_BASE_URL"])
            cors_default = tpl.origin_of(app_url) or ""
        defaults["CORS_ALLOWED_ORIGINS"] = cors_default
        return defaults

    def _name_override(self, logical_id: str) -> str | None:
        """A resource name given in the shell through the variable that names it (e.g. TABLE_NAME)."""
        for variable, target in self.template.resource_variables().items():
            if target == logical_id and os.environ.get(variable):
                value = os.environ[variable]
                if value.startswith(("http://", "https://")):  # a queue URL: its last segment is the name
                    return value.rstrip("/").rsplit("/", 1)[-1]
                if value.startswith("arn:"):
                    return None
                return value
        return None

    def create_resources(self) -> None:
        template = self.template

        # DynamoDB: exactly the template's table definition.
        table = template.table
        if table is not None:
            logical_id, properties = table
            name = self._name_override(logical_id) or template.physical_name(logical_id)
            definition = template.table_definition or {}
            dynamodb = self.client("dynamodb")
            arguments = {k: v for k, v in definition.items() if k != "TimeToLiveSpecification"}
            dynamodb.create_table(TableName=name, **arguments)
            ttl = definition.get("TimeToLiveSpecification")
            if ttl and str(ttl.get("Enabled")).lower() == "true":
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
            described = dynamodb.describe_table(TableName=name)["Table"]
            template.set_resource(logical_id, ref=name, Arn=described["TableArn"])

        # SQS: every queue, then the redrive policies (they point at other queues' ARNs).
        sqs = self.client("sqs")
        visibility = os.environ.get("LOCAL_QUEUE_VISIBILITY_TIMEOUT", "2")
        for logical_id, properties in template.queues.items():
            name = self._name_override(logical_id) or template.physical_name(logical_id)
            attributes = {"VisibilityTimeout": visibility}
            for key in (
                "DelaySeconds",
                "MaximumMessageSize",
                "MessageRetentionPeriod",
                "FifoQueue",
                "ContentBasedDeduplication",
            ):
                if key in properties:
                    attributes[key] = tpl._as_env_value(template.resolve(properties[key]))
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            self.queue_urls[logical_id], self.queue_arns[logical_id] = url, arn
            template.set_resource(logical_id, ref=url, Arn=arn, QueueName=name, QueueUrl=url)
        for logical_id, properties in template.queues.items():
            if "RedrivePolicy" in properties:
                policy = template.resolve(properties["RedrivePolicy"])
                sqs.set_queue_attributes(
                    QueueUrl=self.queue_urls[logical_id],
                    Attributes={"RedrivePolicy": policy if isinstance(policy, str) else json.dumps(policy)},
                )

        # Secrets Manager: the signing key secret holds a key ring whose one key signs at once.
        secretsmanager = self.client("secretsmanager")
        signing_secrets = {
            target
            for variable, target in template.resource_variables().items()
            if variable == "SIGNING_KEY_SECRET_ID"
        }
        for logical_id, properties in template.secrets.items():
            name = self._name_override(logical_id) or template.physical_name(logical_id)
            if logical_id in signing_secrets:
                value = signing_key_secret_value()
            else:
                literal = template.resolve(properties.get("SecretString"))
                value = literal if isinstance(literal, str) else secrets.token_urlsafe(24)
            arn = secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
            template.set_resource(logical_id, ref=arn, Id=arn)

        # SES configuration sets (their Ref is the name).
        for logical_id, properties in template.configuration_sets.items():
            name = self._name_override(logical_id) or template.physical_name(logical_id)
            template.set_resource(logical_id, ref=name, Name=name)

        for logical_id in template.resources_of_type("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
            template.set_resource(logical_id, ApiEndpoint=self.base_url)

    def configure_environment(self) -> None:
        template = self.template
        template.apply_environment(os.environ)
        defaults = self.local_defaults()
        environment = template.environment(os.environ, local_defaults=defaults)
        for name, value in defaults.items():  # also when the template does not use the variable
            environment.setdefault(name, os.environ.get(name, value))
        environment.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        environment.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        for name in ("POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_METRICS_DISABLED"):
            if name in os.environ:
                environment[name] = os.environ[name]
        self.environment = environment
        os.environ.update(environment)
        # The parameters follow the final values, so the CORS configuration (and any condition
        # on them) is what the deployed API would have with these settings.
        template.apply_environment(os.environ)
        self.cors = template.cors

    def create_email_resources(self) -> None:
        sesv2 = self.client("sesv2")
        sender = parseaddr(os.environ.get("EMAIL_FROM", ""))[1]
        if sender:
            sesv2.create_email_identity(EmailIdentity=sender)
        configuration_set = os.environ.get("SES_CONFIGURATION_SET")
        if configuration_set:
            sesv2.create_configuration_set(ConfigurationSetName=configuration_set)

        # The signing secret named in the shell may not be one of the template's: create it.
        secret_id = os.environ.get("SIGNING_KEY_SECRET_ID")
        if secret_id:
            secretsmanager = self.client("secretsmanager")
            try:
                secretsmanager.describe_secret(SecretId=secret_id)
            except secretsmanager.exceptions.ResourceNotFoundException:
                secretsmanager.create_secret(Name=secret_id, SecretString=signing_key_secret_value())

    def add_layer_paths(self) -> None:
        """The layers' folders on sys.path, as Lambda puts them on the import path (plus the
        repository's own layer, whose helpers the server uses: key generation, token checks,
        MIME parsing, problem bodies)."""
        candidates = [*self.template.layer_dirs, tpl.REPO_ROOT / "layers" / "common"]
        for layer in reversed(candidates):
            if layer.is_dir() and str(layer) not in sys.path:
                sys.path.insert(0, str(layer))

    def load_functions(self) -> None:
        self.add_layer_paths()
        routed = {route.function_logical_id for route in self.template.routes}
        workers = {s.function_logical_id for s in self.template.queue_subscriptions}
        scheduled = {s.function_logical_id for s in self.template.schedules}
        for logical_id, definition in self.template.functions.items():
            function = LocalFunction(self, definition)
            self.functions[logical_id] = function
            if logical_id in routed | workers | scheduled:
                function.load()
        self.router = Router(self.template.routes)

    def start_workers(self) -> None:
        for subscription in self.template.queue_subscriptions:
            if subscription.queue_logical_id not in self.queue_urls:
                log(f"!! {subscription.function_logical_id}: unknown queue {subscription.queue_logical_id}")
                continue
            drainer = QueueDrainer(self, self.functions[subscription.function_logical_id], subscription)
            drainer.start()
            self.drainers.append(drainer)

    def stop(self) -> None:
        for drainer in self.drainers:
            drainer.stopping.set()
        for drainer in self.drainers:
            drainer.join(timeout=3)
        if self.moto is not None:
            try:
                self.moto.stop()
            except Exception as error:  # noqa: BLE001 - stopping anyway
                log(f"!! stopping moto: {error}")

    # ------------------------------------------------------------------ requests

    def handle(self, request: Request) -> tuple[HttpResponse, str]:
        """Answer one HTTP request; also returns what answered it (for the access log)."""
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
            denied = self.authorize(request, event)
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
        self, request: Request, route: tpl.Route, path_parameters: dict[str, str]
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

    # ------------------------------------------------------------------ CORS

    def preflight(self, request: Request) -> HttpResponse:
        response = HttpResponse(204, security_headers())
        cors = self.cors
        origin = request.header("origin")
        if cors is None or not cors.origin_allowed(origin):
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

    # ------------------------------------------------------------------ JWT authorizer

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

    def authorize(self, request: Request, event: dict[str, Any]) -> HttpResponse | None:
        """API Gateway's JWT authorizer: None if the token is good (claims put into the event)."""
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
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": {name: _claim_string(value) for name, value in claims.items()}, "scopes": None}
        }
        return None

    @staticmethod
    def _unauthorized(challenge: str) -> HttpResponse:
        return problem_response(errors().Unauthorized(), {"WWW-Authenticate": challenge})

    # ------------------------------------------------------------------ local-only routes

    def local_route(self, request: Request) -> HttpResponse | None:
        path, method = request.path.rstrip("/"), request.method
        if path == "/_local/emails" and method in ("GET", "HEAD"):
            to = dict(parse_qsl(request.query)).get("to")
            return json_response(200, self.emails.list(to))
        if path == "/_local/emails" and method == "DELETE":
            self.emails.clear()
            return HttpResponse(204, security_headers())
        if path == "/_local/cleanup" and method == "POST":
            return self.run_cleanup()
        if path == "/_local/rotate-signing-key" and method == "POST":
            return self.rotate_signing_key()
        if path == "/_local/routes" and method in ("GET", "HEAD"):
            return json_response(200, [route.as_dict() for route in self.template.routes])
        if path == "/_local/info" and method in ("GET", "HEAD"):
            return json_response(200, self.info())
        return None

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

    def rotation_function(self) -> LocalFunction | None:
        """The function a RotationSchedule of the template names (else the one whose handler is
        rotate_signing_key.lambda_handler)."""
        for schedule in self.template.resources_of_type("AWS::SecretsManager::RotationSchedule").values():
            target = tpl._referenced_resource((schedule.get("Properties") or {}).get("RotationLambdaARN"))
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

    def scheduled_event(self, schedule: tpl.Schedule) -> Any:
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

    # ------------------------------------------------------------------ banner

    def banner(self) -> str:
        lines = [
            "",
            f"Accounts API (local mode) on {self.base_url}",
            f"  template  {self.template.path}",
            f"  AWS       moto on {self.aws_endpoint} (region {self.region}); nothing reaches AWS",
            "  routes",
        ]
        for route in self.template.routes:
            method = route.method if route.path != tpl.DEFAULT_ROUTE else "*"
            extra = f"  [JWT authorizer {route.authorizer}]" if route.authorizer else ""
            lines.append(
                f"    {method:<7} {route.path:<38} -> {route.function_logical_id} ({route.handler}){extra}"
            )
        cors = self.cors
        lines.append(f"  CORS      {', '.join(cors.allow_origins) if cors else 'not configured'}")
        lines.append(f"  emails    printed here, listed at {self.base_url}/_local/emails")
        lines.append(f"  cleanup   curl -X POST {self.base_url}/_local/cleanup")
        lines.append(f"  rotation  curl -X POST {self.base_url}/_local/rotate-signing-key")
        lines.append(
            f"  links     {os.environ.get('APP_BASE_URL', '')}/verify-email?token=... (APP_BASE_URL)"
        )
        lines.append("Press Ctrl+C to stop.")
        return "\n".join(lines)


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _claim_string(value: Any) -> str:
    """Claims as API Gateway's JWT authorizer passes them: every value a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(_claim_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# ----------------------------------------------------------------------------- the layer


def errors() -> Any:
    """accounts.errors, imported late: the layer joins sys.path when the server starts."""
    from accounts import errors as service_errors

    return service_errors


def signing_key_secret_value() -> str:
    """A key ring with one new key that signs at once (nothing can have cached a key set yet)."""
    from accounts.jwt_keys import new_ring_secret_value

    return new_ring_secret_value(int(time.time()))


# ----------------------------------------------------------------------------- HTTP server


class Request:
    def __init__(
        self,
        method: str,
        target: str,
        protocol: str,
        headers: list[tuple[str, str]],
        body: bytes,
        peer: str,
        *,
        body_too_large: bool = False,
    ) -> None:
        parts = urlsplit(target)
        self.method = method.upper()
        self.path = parts.path or "/"
        self.query = parts.query
        self.protocol = protocol
        self.headers = headers
        self.body = body
        self.peer = peer
        self.body_too_large = body_too_large

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "accounts-local"
    sys_version = ""
    app: LocalApp  # set on the subclass made by serve()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):  # every method, including unknown ones, goes to one place
            return self._handle
        raise AttributeError(name)

    def setup(self) -> None:
        super().setup()
        self.no_delay(self.connection)

    @staticmethod
    def no_delay(sock: Any) -> None:
        """Send small writes at once. Each response already goes out in one write (see `_write`);
        this covers the base class's own two-write paths (send_error) on keep-alive connections,
        where Nagle's algorithm would hold the second write until the client's delayed ACK (~40 ms)."""
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):  # not a TCP socket
            pass

    def _read_body(self) -> tuple[bytes, bool]:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, total = [], 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunk = self.rfile.read(size)
                self.rfile.readline(65537)
                total += size
                if total <= MAX_REQUEST_BYTES:
                    chunks.append(chunk)
            return b"".join(chunks), total > MAX_REQUEST_BYTES
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            remaining = length
            while remaining > 0:
                remaining -= len(self.rfile.read(min(remaining, 65536)) or b"x" * remaining)
            return b"", True
        return (self.rfile.read(length) if length > 0 else b""), False

    def _handle(self) -> None:
        started = time.monotonic()
        try:
            body, too_large = self._read_body()
        except (ValueError, OSError):
            self.send_error(400, "Bad request body")
            return
        request = Request(
            self.command,
            self.path,
            self.request_version,
            list(self.headers.items()),
            body,
            self.client_address[0],
            body_too_large=too_large,
        )
        try:
            response, target = self.app.handle(request)
        except Exception:  # noqa: BLE001 - a bug in the local server itself
            traceback.print_exc()
            response, target = (
                problem_response(errors().ServiceError()),
                "server error",
            )
        self._write(response, head=request.method == "HEAD")
        elapsed = (time.monotonic() - started) * 1000
        log(
            f"{request.peer} {request.method} {request.path} -> {response.status} ({target}, {elapsed:.0f} ms)"
        )

    def _write(self, response: HttpResponse, *, head: bool) -> None:
        """Status line, headers and body in ONE write (one send): written separately, a keep-alive
        client's next request would wait for the body behind Nagle's algorithm and delayed ACKs."""
        self.wfile.write(self.serialize(response, head=head))
        self.wfile.flush()

    def serialize(self, response: HttpResponse, *, head: bool) -> bytes:
        """The whole HTTP/1.1 response as bytes (no body for HEAD, 1xx, 204 and 304)."""
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        body = b"" if response.status in (204, 304) or 100 <= response.status < 200 else response.body
        lines = [f"{self.protocol_version} {response.status} {reason}", f"Date: {self.date_time_string()}"]
        for name, value in response.headers:
            if name.lower() in ("content-length", "transfer-encoding", "connection", "date"):
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        lines.append(f"Apigw-Requestid: {uuid.uuid4().hex[:16]}")
        if self.close_connection:
            lines.append("Connection: close")
        head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        return head_bytes if head or not body else head_bytes + body

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


# ----------------------------------------------------------------------------- main


def _prepare_process_environment() -> None:
    """AWS settings that keep every client on moto, whatever the shell or ~/.aws say."""
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or tpl.DEFAULT_REGION
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
            "AWS_LAMBDA_FUNCTION_NAME",
        ):
            del os.environ[name]
    if os.environ.get("AWS_ACCESS_KEY_ID") == "testing":
        os.environ.pop("AWS_SESSION_TOKEN", None)
    # No profile or endpoint from ~/.aws can redirect a client away from moto.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.server", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--template",
        default=os.environ.get("LOCAL_TEMPLATE") or str(tpl.DEFAULT_TEMPLATE),
        help="SAM template to serve (default: the repository's template.yaml; env LOCAL_TEMPLATE)",
    )
    parser.add_argument(
        "--host", default=os.environ.get("HOST", "127.0.0.1"), help="address to bind (127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT") or 3000), help="port (env PORT, 3000)"
    )
    args = parser.parse_args(argv)

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    _prepare_process_environment()

    handler_class = type("BoundHandler", (Handler,), {})
    try:
        httpd = Server((args.host, args.port), handler_class)
    except OSError as error:
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    app = LocalApp(args.template, host=args.host, port=httpd.server_address[1])
    handler_class.app = app

    app.start_moto()
    try:
        app.add_layer_paths()
        app.create_resources()
        app.configure_environment()
        app.create_email_resources()
        app.load_functions()
        app.start_workers()
    except Exception:  # noqa: BLE001 - reported; the exit code says it failed
        traceback.print_exc()
        app.stop()
        httpd.server_close()
        return 1

    stopping = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    serving = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True
    )
    serving.start()
    log(app.banner())
    while not stopping.wait(0.5):
        pass
    log("Stopping...")
    httpd.shutdown()
    httpd.server_close()
    app.stop()
    log("Stopped.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl+C during start-up
        sys.exit(130)
